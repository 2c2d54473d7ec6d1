import type { Random } from './random.js';

/** Every fault `baton chaos` can inject (docs/chaos.md describes each). */
export const FAULT_KINDS = [
  'kill-leader',
  'kill-follower',
  'pause-leader',
  'pause-follower',
  'stop-leader',
  'stop-follower',
  'kill-all-but-one',
  'postgres-restart',
  'partition',
  'half-open',
  'slow-db',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export function isFaultKind(value: string): value is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(value);
}

/** What a fault needs from the run: its own replica processes, proxies in front of the database, its own PostgreSQL. */
export type Capability = 'signals' | 'proxies' | 'postgres';

export const NEEDS: Record<FaultKind, Capability> = {
  'kill-leader': 'signals',
  'kill-follower': 'signals',
  'pause-leader': 'signals',
  'pause-follower': 'signals',
  'stop-leader': 'signals',
  'stop-follower': 'signals',
  'kill-all-but-one': 'signals',
  'postgres-restart': 'postgres',
  partition: 'proxies',
  'half-open': 'proxies',
  'slow-db': 'proxies',
};

export const DESCRIPTIONS: Record<FaultKind, string> = {
  'kill-leader': 'SIGKILL the leader of a lane, restart it after a while',
  'kill-follower': 'SIGKILL a replica that leads nothing, restart it after a while',
  'pause-leader': 'SIGSTOP the leader of a lane (shorter or longer than its lease), then SIGCONT',
  'pause-follower': 'SIGSTOP a follower, then SIGCONT',
  'stop-leader': 'SIGTERM the leader of a lane (graceful drain and handover), restart it',
  'stop-follower': 'SIGTERM a follower, restart it',
  'kill-all-but-one': 'SIGKILL every replica but one, restart them',
  'postgres-restart': 'stop PostgreSQL (fast shutdown), start it again',
  partition: 'cut one replica off from PostgreSQL at its proxy (blackhole or refuse), then heal',
  'half-open': "close one replica's database connections at the server end only; its end hears nothing",
  'slow-db': 'delay every database packet of every replica (fixed + jitter, in order)',
};

export type Role = 'leader' | 'follower';

export interface FaultPlan {
  /** 1-based position in the schedule. */
  index: number;
  kind: FaultKind;
  /** Quiet time before the fault, after the previous one has recovered. */
  gapMs: number;
  /** How long the fault lasts before it is healed (downtime, pause, cut). */
  holdMs: number;
  /** Whose leader is targeted (leader faults), or which replica role (proxy faults). */
  role: Role;
  /** Index into the run's lanes of the lane whose leader is targeted. */
  lane: number;
  /** Uniform in [0, 1): which candidate is chosen when several fit (followers). */
  pick: number;
  /** Proxy faults: how the network fails. */
  style?: 'blackhole' | 'refuse';
  /** slow-db: the delay per packet. */
  delay?: { fixedMs: number; jitterMs: number };
}

export interface ScheduleOptions {
  kinds: readonly FaultKind[];
  lanes: number;
  leaseTtlMs: number;
  /** Mean quiet time between faults. */
  meanEveryMs: number;
}

/**
 * The fault schedule: an endless sequence drawn from one seeded stream. Faults come in rounds,
 * each round every enabled kind once in a random order, so a run of one round's length
 * already covers every kind. The same seed gives the same faults with the same parameters.
 */
export class Schedule {
  private round: FaultKind[] = [];
  private count = 0;

  constructor(
    private readonly rng: Random,
    private readonly options: ScheduleOptions,
  ) {
    if (options.kinds.length === 0) throw new Error('no fault kinds to schedule');
  }

  next(): FaultPlan {
    if (this.round.length === 0) this.round = this.rng.shuffle(this.options.kinds);
    const kind = this.round.shift()!;
    const { rng } = this;
    const ttl = this.options.leaseTtlMs;
    const every = this.options.meanEveryMs;
    const plan: FaultPlan = {
      index: ++this.count,
      kind,
      gapMs: Math.round(Math.min(3 * every, Math.max(every / 4, rng.exponential(every)))),
      holdMs: 0,
      role: kind.endsWith('-follower') ? 'follower' : 'leader',
      lane: rng.int(0, this.options.lanes - 1),
      pick: rng.next(),
    };
    switch (kind) {
      case 'kill-leader':
      case 'kill-follower':
      case 'stop-leader':
      case 'stop-follower':
        plan.holdMs = rng.int(200, 1_500);
        break;
      case 'pause-leader':
      case 'pause-follower':
        // Mostly past the lease (takeover, then a fenced wake-up); sometimes a short hiccup.
        plan.holdMs = rng.chance(0.7) ? rng.int(ttl + 200, ttl + 1_500) : rng.int(100, Math.round(ttl / 2));
        break;
      case 'kill-all-but-one':
        plan.holdMs = rng.int(300, 2_000);
        break;
      case 'postgres-restart':
        plan.holdMs = rng.int(100, 1_500);
        break;
      case 'partition':
        plan.role = rng.chance(0.7) ? 'leader' : 'follower';
        plan.style = rng.chance(0.6) ? 'blackhole' : 'refuse';
        plan.holdMs = rng.int(ttl + 300, ttl + 2_000);
        break;
      case 'half-open':
        plan.role = rng.chance(0.7) ? 'leader' : 'follower';
        plan.holdMs = rng.int(ttl + 300, ttl + 2_000);
        break;
      case 'slow-db':
        plan.delay = { fixedMs: rng.int(5, 60), jitterMs: rng.int(0, 40) };
        plan.holdMs = rng.int(1_500, 4_000);
        break;
    }
    return plan;
  }
}
