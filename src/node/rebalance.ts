/** How many stream subscribers a replica should ask to move, given every ready replica's count. */
export function excessSubscribers(
  self: string,
  counts: ReadonlyMap<string, number>,
  options: { tolerance: number; maxShare: number } = { tolerance: 0.2, maxShare: 0.25 },
): number {
  const mine = counts.get(self) ?? 0;
  if (counts.size < 2 || mine === 0) return 0;
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const fair = total / counts.size;
  // Hysteresis: act only clearly above the fair share, and never on a difference of one.
  if (mine <= Math.ceil(fair * (1 + options.tolerance)) || mine - fair < 2) return 0;
  // Move a bounded batch per round so the others absorb it before anyone re-measures.
  return Math.min(mine - Math.ceil(fair), Math.ceil(mine * options.maxShare));
}
