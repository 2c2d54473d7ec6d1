import type { App } from '../apps/app.js';
import { DEFAULT_APPLY_BUDGET_MS } from '../apps/runner.js';
import { leaseTimings, type LeaseTimings } from '../coordination/elector.js';
import { DEFAULT_LEADER_LIMITS, type LeaderLimits } from '../ledger/leader.js';
import { DEFAULT_INTAKE_LIMITS, type IntakeLimits } from '../ledger/intake.js';
import { LANE_NAME } from '../ledger/envelope.js';
import type { Logger } from '../log.js';
import { DEFAULT_STREAM_LIMITS, type StreamLimits } from '../api/stream.js';
import { DEFAULT_BALANCER_TIMINGS, type BalancerTimings } from './balancer.js';
import type { LivenessOptions } from './liveness.js';
import { LEADERSHIP_MODES, type LeadershipMode } from './placement.js';

export interface ReplicaConfig {
  id: string;
  databaseUrl: string;
  host: string;
  port: number;
  /** The URL other replicas and clients use to reach this one; defaults to the listening address. */
  advertiseUrl?: string;
  /** Lanes created at start if missing. The replica serves every lane of the cluster. */
  lanes: string[];
  /** The app of the lanes created at start (at its newest version here). */
  app: string;
  /**
   * App code beyond the built-in apps: app objects, or modules to load (file paths or package
   * names, each default-exporting an app or an array of apps). Several versions of one app may
   * be given; each lane runs the version it is at.
   */
  apps: Array<App | string>;
  /** Time budget of one transaction's apply (and one query), in milliseconds. */
  applyBudgetMs: number;
  /**
   * Re-execute every block with this replica's own app code and compare it with what the block
   * recorded (a non-deterministic app shows up as mismatches). Costs a second copy of each lane's
   * state and one read of transaction bodies per block.
   */
  verifyBlocks: boolean;
  /**
   * Most state keys of one lane held in memory. A lane with at most this many keys is loaded
   * whole at start; a larger one starts with none and reads keys through to PostgreSQL as blocks
   * and queries need them, keeping at most about this many (oldest written dropped first).
   */
  stateCacheKeys: number;
  lease: LeaseTimings;
  leader: LeaderLimits;
  intake: IntakeLimits;
  /** Database connections for requests and block production. */
  poolSize: number;
  heartbeatMs: number;
  /** Stream rebalancing runs every this many heartbeats. */
  rebalanceEveryBeats: number;
  /** Longest a graceful stop waits for in-flight requests before cutting them. */
  drainTimeoutMs: number;
  /**
   * How long a draining replica keeps serving (readiness 503, `connection: close`) before it
   * closes its listener, so load balancers' health checks and keep-alive clients move away first.
   */
  drainGraceMs: number;
  streams: StreamLimits;
  /** Bearer token of the admin API; without one the admin API is disabled. */
  adminToken?: string;
  /** Leadership goes to the ready replicas of the highest priority. */
  priority: number;
  /** active-active spreads lanes over the replicas; active-passive puts them all on one. */
  mode: LeadershipMode;
  balancer: BalancerTimings;
  liveness: Pick<LivenessOptions, 'eventLoopStallMs' | 'reportForMs'>;
  logger: Logger;
}

export const REPLICA_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function replicaConfig(
  base: Pick<ReplicaConfig, 'id' | 'databaseUrl' | 'logger'> & Partial<ReplicaConfig>,
): ReplicaConfig {
  const config: ReplicaConfig = {
    host: '127.0.0.1',
    port: 7700,
    lanes: ['main'],
    app: 'token',
    apps: [],
    applyBudgetMs: DEFAULT_APPLY_BUDGET_MS,
    verifyBlocks: false,
    stateCacheKeys: 250_000,
    lease: leaseTimings(),
    leader: DEFAULT_LEADER_LIMITS,
    intake: DEFAULT_INTAKE_LIMITS,
    poolSize: 10,
    heartbeatMs: 1_000,
    rebalanceEveryBeats: 3,
    drainTimeoutMs: 10_000,
    drainGraceMs: 1_000,
    streams: DEFAULT_STREAM_LIMITS,
    priority: 0,
    mode: 'active-active',
    balancer: DEFAULT_BALANCER_TIMINGS,
    liveness: { eventLoopStallMs: 1_000, reportForMs: 10_000 },
    ...base,
  };
  if (!LEADERSHIP_MODES.includes(config.mode))
    throw new Error(`invalid mode "${String(config.mode)}" (${LEADERSHIP_MODES.join(' or ')})`);
  if (!REPLICA_ID.test(config.id))
    throw new Error(`invalid replica id "${config.id}" (letters, digits, _ . -)`);
  for (const lane of config.lanes) {
    if (!LANE_NAME.test(lane)) throw new Error(`invalid lane name "${lane}" (a-z, 0-9, _ -, at most 63)`);
  }
  return config;
}
