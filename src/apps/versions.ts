/** An app version: digits and dots, with an optional -suffix (1.0.0, 2.1, 3.0.0-rc.1). */
export const VERSION_PATTERN = /^\d{1,9}(\.\d{1,9}){0,3}(-[0-9A-Za-z.-]{1,32})?$/;

/** Orders versions numerically part by part; a -suffix sorts before the same version without one. */
export function compareVersions(a: string, b: string): number {
  const [coreA = '', suffixA] = a.split(/-(.*)/s);
  const [coreB = '', suffixB] = b.split(/-(.*)/s);
  const partsA = coreA.split('.').map(Number);
  const partsB = coreB.split('.').map(Number);
  for (let i = 0; i < Math.max(partsA.length, partsB.length); i++) {
    const d = (partsA[i] ?? 0) - (partsB[i] ?? 0);
    if (d !== 0) return d;
  }
  if (suffixA === suffixB) return 0;
  if (suffixA === undefined) return 1;
  if (suffixB === undefined) return -1;
  return suffixA < suffixB ? -1 : 1;
}
