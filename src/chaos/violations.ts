/** The kinds of invariant violation the chaos checker reports (see docs/chaos.md). */
export const VIOLATION_KINDS = [
  'fork',
  'gap',
  'fenced-term',
  'lost-ack',
  'double-apply',
  'receipt-mismatch',
  'refused-applied',
  'stream-gap',
  'stream-repeat',
  'replica-disagrees',
  'supply',
  'stuck',
] as const;

export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  kind: ViolationKind;
  lane?: string;
  message: string;
  /** Facts that show it: heights, hashes, ids, sources. */
  evidence?: Record<string, unknown>;
}

/** At most `limit` violations of each kind per lane, plus one line saying how many more there were. */
export function capViolations(violations: readonly Violation[], limit = 20): Violation[] {
  const counts = new Map<string, number>();
  const out: Violation[] = [];
  for (const v of violations) {
    const key = `${v.kind}/${v.lane ?? ''}`;
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    if (n <= limit) out.push(v);
  }
  for (const [key, n] of counts) {
    if (n <= limit) continue;
    const [kind, lane] = key.split('/') as [ViolationKind, string];
    out.push({
      kind,
      ...(lane ? { lane } : {}),
      message: `… and ${n - limit} more ${kind} violations`,
    });
  }
  return out;
}

export function describeViolation(v: Violation): string {
  return `${v.kind}${v.lane ? ` [${v.lane}]` : ''}: ${v.message}`;
}
