import type { AppRunner } from '../apps/runner.js';
import type { AdminActions } from './admin.js';
import type { Lane } from '../ledger/lane.js';
import type { Intake } from '../ledger/intake.js';
import type { SignatureVerifier } from '../ledger/keys.js';
import type { LedgerStore } from '../ledger/store.js';

export interface Readiness {
  ready: boolean;
  reason?: string;
}

export interface ReplicaView {
  id: string;
  url: string;
  pid: number;
  version: string;
  ready: boolean;
  /** App name → versions this replica runs. */
  apps: Record<string, string[]>;
}

export interface LaneView {
  lane: string;
  leader: string | null;
  term: number;
  height: number;
}

/** A replica as the admin status shows it. */
export interface ReplicaStatus extends ReplicaView {
  priority: number;
  mode: string;
  streams: number;
  /** Lanes it leads now: the lanes of the same status that name it as leader. */
  leads: number;
  /** Why it is not ready (null when it is). */
  reason: string | null;
  /** App name → versions it runs. */
  apps: Record<string, string[]>;
  /** Blocks that did not re-execute to what they recorded (null: it does not verify blocks). */
  mismatches: number | null;
}

export interface LaneStatus extends LaneView {
  app: string;
  /** The active app version (null: a lane from before versions, until its next block). */
  version: string | null;
  /** A version proposed and not switched to yet. */
  proposedVersion: string | null;
  pending: number;
  /** Milliseconds since the tip block's time; null before the first block. */
  lastBlockAgeMs: number | null;
}

export interface AdminStatus {
  replicas: ReplicaStatus[];
  lanes: LaneStatus[];
}

export interface ClusterView {
  /** The coordination backend that grants terms. */
  elector: string;
  replicas: ReplicaView[];
  lanes: LaneView[];
}

/** `GET /v1/lanes/{lane}`. */
export interface LaneDetail extends LaneView {
  app: string;
  version: string | null;
  proposedVersion: string | null;
}

/** What the HTTP routes need from a replica. */
export interface ApiContext {
  replicaId: string;
  lanes: ReadonlyMap<string, Lane>;
  runner: AppRunner;
  store: LedgerStore;
  intake: Intake;
  verifier: SignatureVerifier;
  readiness(): Readiness;
  liveness(): { live: boolean; reason?: string };
  /** Prometheus text exposition of this replica's metrics. */
  metrics(): string;
  cluster(): Promise<ClusterView>;
  lane(lane: string): Promise<LaneDetail | null>;
  /** Present when the replica was started with an admin token. */
  admin?: AdminActions;
}
