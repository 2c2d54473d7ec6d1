/**
 * Where lane leadership should be: a pure function of the cluster's replicas and how many lanes
 * each leads, computed alike by every replica. Only the current leader of a lane acts on it,
 * by planned handover, so a replica only ever executes the transfers that start from itself.
 */

export type LeadershipMode = 'active-active' | 'active-passive';

export const LEADERSHIP_MODES: readonly LeadershipMode[] = ['active-active', 'active-passive'];

export interface PlacementReplica {
  id: string;
  priority: number;
  /** Live and ready (caught up) for long enough to be given lanes. */
  eligible: boolean;
  /** Lanes it leads now. */
  leads: number;
}

export interface Transfer {
  from: string;
  to: string;
  count: number;
}

/**
 * The lanes each replica should lead: leadership goes to the eligible replicas of the highest
 * priority. Active-active spreads lanes evenly over them (each gets ⌊L/n⌋ or ⌈L/n⌉; the
 * replicas already leading more keep the larger shares, so a balanced cluster plans nothing);
 * active-passive puts every lane on one of them (the one leading most already, then by id).
 */
export function targetShares(
  mode: LeadershipMode,
  replicas: readonly PlacementReplica[],
): Map<string, number> {
  const shares = new Map(replicas.map((r) => [r.id, 0]));
  const eligible = replicas.filter((r) => r.eligible);
  if (eligible.length === 0) return new Map(replicas.map((r) => [r.id, r.leads]));
  const top = Math.max(...eligible.map((r) => r.priority));
  const preferred = eligible
    .filter((r) => r.priority === top)
    .sort((a, b) => b.leads - a.leads || compareIds(a.id, b.id));
  const total = replicas.reduce((sum, r) => sum + r.leads, 0);
  if (mode === 'active-passive') {
    shares.set(preferred[0]!.id, total);
    return shares;
  }
  const base = Math.floor(total / preferred.length);
  const extra = total % preferred.length;
  preferred.forEach((r, i) => shares.set(r.id, base + (i < extra ? 1 : 0)));
  return shares;
}

/** The handovers that bring leadership to its target shares, fewest lanes moved. */
export function planTransfers(mode: LeadershipMode, replicas: readonly PlacementReplica[]): Transfer[] {
  const shares = targetShares(mode, replicas);
  const givers = replicas
    .map((r) => ({ id: r.id, excess: r.leads - (shares.get(r.id) ?? 0) }))
    .filter((g) => g.excess > 0)
    .sort((a, b) => compareIds(a.id, b.id));
  const takers = replicas
    .map((r) => ({ id: r.id, leads: r.leads, room: (shares.get(r.id) ?? 0) - r.leads }))
    .filter((t) => t.room > 0)
    .sort((a, b) => a.leads - b.leads || compareIds(a.id, b.id));
  const transfers: Transfer[] = [];
  for (const giver of givers) {
    for (const taker of takers) {
      if (giver.excess === 0) break;
      const count = Math.min(giver.excess, taker.room);
      if (count === 0) continue;
      transfers.push({ from: giver.id, to: taker.id, count });
      giver.excess -= count;
      taker.room -= count;
    }
  }
  return transfers;
}

/**
 * Where one lane of `from` should go when it must move now (operator handover, drain): the
 * eligible replica of the highest priority other than `from` that leads the fewest lanes.
 */
export function pickSuccessor(replicas: readonly PlacementReplica[], from: string): string | null {
  const others = replicas.filter((r) => r.eligible && r.id !== from);
  if (others.length === 0) return null;
  const top = Math.max(...others.map((r) => r.priority));
  const best = others
    .filter((r) => r.priority === top)
    .sort((a, b) => a.leads - b.leads || compareIds(a.id, b.id))[0];
  return best?.id ?? null;
}

/**
 * Splits `lanes` (all led by `from`, which is leaving) over the other eligible replicas of the
 * highest priority so that they end up as even as possible.
 */
export function spreadLanes(
  replicas: readonly PlacementReplica[],
  from: string,
  lanes: readonly string[],
): Map<string, string[]> {
  const others = replicas.filter((r) => r.eligible && r.id !== from);
  const out = new Map<string, string[]>();
  if (others.length === 0) return out;
  const top = Math.max(...others.map((r) => r.priority));
  const takers = others.filter((r) => r.priority === top).map((r) => ({ id: r.id, leads: r.leads }));
  for (const lane of lanes) {
    takers.sort((a, b) => a.leads - b.leads || compareIds(a.id, b.id));
    const taker = takers[0]!;
    taker.leads++;
    out.set(taker.id, [...(out.get(taker.id) ?? []), lane]);
  }
  return out;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
