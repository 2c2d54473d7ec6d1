export interface RebalanceOptions {
  /** Allowed distance from the fair share, as a fraction of it. */
  tolerance: number;
  /** Most of its own subscribers a replica moves in one round, as a fraction. */
  maxShare: number;
}

/**
 * How many stream subscribers a replica should ask to move, given every ready replica's count.
 * A replica sheds when it is clearly above the fair share, or when it is above the fair share
 * while another replica is clearly below it (a new or restarted replica must fill up too).
 * It never sheds below the fair share, and at most `maxShare` of its subscribers per round.
 */
export function excessSubscribers(
  self: string,
  counts: ReadonlyMap<string, number>,
  options: RebalanceOptions = { tolerance: 0.2, maxShare: 0.25 },
): number {
  const mine = counts.get(self) ?? 0;
  if (counts.size < 2 || mine === 0) return 0;
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const fair = total / counts.size;
  const above = mine - Math.ceil(fair);
  // Hysteresis: a difference of one never moves anybody.
  if (above <= 0 || mine - fair < 2) return 0;
  const overloaded = mine > Math.ceil(fair * (1 + options.tolerance));
  const starved = [...counts.values()].some(
    (n) => n < Math.floor(fair * (1 - options.tolerance)) && fair - n >= 2,
  );
  if (!overloaded && !starved) return 0;
  return Math.min(above, Math.ceil(mine * options.maxShare));
}
