import type { TypedEvents } from '../events.js';

export interface ElectorEvents extends Record<string, unknown> {
  /** This replica now leads `lane` under `term` (not yet claimed in the ledger's fence). */
  'lane:elected': { lane: string; term: number };
  /**
   * Another replica handed `lane` over to this one under `term`; `lane:elected` follows once this
   * replica has confirmed the lease itself. Until then it may prepare (claim the term, read what is
   * pending) but must not produce.
   */
  'lane:granted': { lane: string; term: number };
  /** This replica no longer leads `lane` under `term`; stop its ordered work at once. */
  'lane:lost': { lane: string; term: number; reason: LostReason };
  'lease:renew:error': { error: unknown };
  'session:up': { sessionId: string };
  'session:down': { error: unknown };
}

export type LostReason = 'renew-deadline' | 'lease-taken' | 'session-lost' | 'resigned' | 'stopped';

/** Coordination queries sent by an elector, by kind (for metrics and the O(1) upkeep check). */
export interface ElectorQueryCounts {
  acquire: number;
  renew: number;
  resign: number;
}

export interface LeaseTimings {
  /** How long a lease lives after its last renewal, judged by the coordination service's clock. */
  ttlMs: number;
  /** How often a leader renews. */
  renewIntervalMs: number;
  /** A leader that has not renewed for this long stops leading; must be below ttlMs. */
  renewDeadlineMs: number;
  /** How often a candidate looks for lanes it can take (expired leases, dead holders). */
  acquireIntervalMs: number;
}

export function leaseTimings(ttlMs = 3_000, overrides: Partial<LeaseTimings> = {}): LeaseTimings {
  const timings: LeaseTimings = {
    ttlMs,
    renewIntervalMs: Math.max(50, Math.round(ttlMs / 4)),
    renewDeadlineMs: Math.round((ttlMs * 2) / 3),
    acquireIntervalMs: 50,
    ...overrides,
  };
  if (timings.renewDeadlineMs >= timings.ttlMs) throw new Error('renewDeadlineMs must be shorter than ttlMs');
  if (timings.renewIntervalMs >= timings.renewDeadlineMs) {
    throw new Error('renewIntervalMs must be shorter than renewDeadlineMs');
  }
  return timings;
}

/**
 * Grants lane terms. An implementation guarantees that terms of a lane strictly increase and
 * that at most one replica holds an unexpired lease per lane; safety against a stale leader
 * comes from the ledger fencing every commit with the term, never from the lease alone.
 */
export interface Elector {
  readonly kind: string;
  readonly events: TypedEvents<ElectorEvents>;
  /** The lanes this replica campaigns for. Dropping a lane does not resign it: see `resign`. */
  setCandidacy(lanes: Iterable<string>): void;
  /** True while this replica holds `term` of `lane` and renewed it within the renew deadline. */
  holds(lane: string, term: number): boolean;
  /**
   * Gives a lane up so another replica can take it without waiting for the lease to expire;
   * with `to`, the lease goes to that replica (directly where the backend can, see `granted`, or
   * reserved for it while it is live, at most one lease TTL).
   */
  resign(lane: string, to?: string): Promise<void>;
  /** Like `resign` for several lanes at once (one round trip where the backend allows). */
  resignLanes(lanes: readonly string[], to?: string): Promise<void>;
  /**
   * Gives the lane up only while this replica holds it under `term`: a leader loop that ended
   * must not release a newer term the elector took for the lane meanwhile.
   */
  resignTerm(lane: string, term: number): Promise<void>;
  resignAll(): Promise<void>;
  /** Runs the next acquire attempt now (another replica gave a lane up). */
  poke(): void;
  /**
   * Another replica says it handed `lane` to this one under `term`. The elector confirms the
   * lease with a query of its own before `lane:elected`: the message proves nothing about when.
   */
  granted?(lane: string, term: number): void;
  queryCounts(): ElectorQueryCounts;
  /** Runs until `signal` aborts; then releases what it holds where it can. */
  run(signal: AbortSignal): Promise<void>;
}
