/** A stretch of a lane's chain produced by one app version. */
export interface VersionSpan {
  version: string | null;
  firstHeight: number;
  lastHeight: number;
}

/** A block where a version can begin: the first, the first with a version, a switch, or the tip. */
export interface VersionPoint {
  height: number;
  version: string | null;
  upgrade: string | null;
}

/**
 * The versions of a chain, oldest first, from the blocks where a version can begin (ordered by
 * height, the tip last): a version begins at a block of that version or right after a switch to it.
 */
export function versionSpans(rows: readonly VersionPoint[]): VersionSpan[] {
  if (rows.length === 0) return [];
  const tip = rows[rows.length - 1]!.height;
  // Where each version begins: at a block of that version, or right after a switch to it.
  const starts = new Map<number, string | null>();
  for (const { height, version, upgrade } of rows) {
    if (!starts.has(height)) starts.set(height, version);
    if (upgrade !== null && height < tip) starts.set(height + 1, upgrade);
  }
  const spans: VersionSpan[] = [];
  for (const [height, version] of [...starts].sort(([a], [b]) => a - b)) {
    const last = spans[spans.length - 1];
    if (last?.version === version) continue;
    if (last) last.lastHeight = height - 1;
    spans.push({ version, firstHeight: height, lastHeight: tip });
  }
  return spans;
}
