import type { App } from '../apps/app.js';
import type { AdminActions } from './admin.js';
import type { LaneFollower } from '../ledger/follower.js';
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
}

export interface LaneStatus extends LaneView {
  app: string;
  pending: number;
  /** Milliseconds since the tip block's time; null before the first block. */
  lastBlockAgeMs: number | null;
}

export interface AdminStatus {
  replicas: ReplicaStatus[];
  lanes: LaneStatus[];
}

export interface ClusterView {
  replicas: ReplicaView[];
  lanes: LaneView[];
}

export interface LaneRuntime {
  app: App;
  follower: LaneFollower;
}

/** What the HTTP routes need from a replica. */
export interface ApiContext {
  replicaId: string;
  lanes: ReadonlyMap<string, LaneRuntime>;
  store: LedgerStore;
  intake: Intake;
  verifier: SignatureVerifier;
  readiness(): Readiness;
  liveness(): { live: boolean; reason?: string };
  /** Prometheus text exposition of this replica's metrics. */
  metrics(): string;
  cluster(): Promise<ClusterView>;
  /** Present when the replica was started with an admin token. */
  admin?: AdminActions;
}
