/** An app version: digits and dots, with an optional -suffix (1.0.0, 2.1, 3.0.0-rc.1). */
export const VERSION_PATTERN = /^\d{1,9}(\.\d{1,9}){0,3}(-[0-9A-Za-z.-]{1,32})?$/;

/**
 * Orders versions numerically part by part (1.10.0 after 1.9.0; 1.0 equals 1.0.0); a -suffix
 * sorts before the same version without one, and suffixes compare as semver pre-releases do
 * (dot-separated, numeric parts numerically: rc.10 after rc.9).
 */
export function compareVersions(a: string, b: string): number {
  const [coreA = '', suffixA] = a.split(/-(.*)/s);
  const [coreB = '', suffixB] = b.split(/-(.*)/s);
  const d = compareParts(coreA.split('.'), coreB.split('.'), true);
  if (d !== 0) return d;
  if (suffixA === suffixB) return 0;
  if (suffixA === undefined) return 1;
  if (suffixB === undefined) return -1;
  return compareParts(suffixA.split('.'), suffixB.split('.'), false);
}

function compareParts(a: string[], b: string[], padWithZero: boolean): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? (padWithZero ? '0' : undefined);
    const y = b[i] ?? (padWithZero ? '0' : undefined);
    if (x === y) continue;
    if (x === undefined) return -1; // fewer pre-release parts sort first
    if (y === undefined) return 1;
    const numeric = /^\d+$/.test(x) && /^\d+$/.test(y);
    if (numeric) return Number(x) - Number(y);
    if (/^\d+$/.test(x)) return -1; // numbers sort before words
    if (/^\d+$/.test(y)) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}
