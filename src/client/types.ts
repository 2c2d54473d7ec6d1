// The SDK's wire types: what the HTTP API (contract v1) answers, declared here so that the
// published declarations of `baton/client` stand alone (no server modules, no `pg`, no node:).

/** A JSON value as lane state, query results and transaction results hold it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A block as `GET /v1/lanes/{lane}/blocks` and the block stream show it. */
export interface Block {
  height: number;
  hash: string;
  parentHash: string;
  term: number;
  producer: string;
  /** Commit time chosen by the producer, ISO-8601 UTC with milliseconds. */
  time: string;
  /** Transaction ids, in the order they were applied. */
  txs: string[];
  /** The app version that produced the block; null for blocks written before versions were recorded. */
  version: string | null;
  /** Only on the block that switches the lane to another app version (from the next block on). */
  upgrade?: string;
}

/** `GET /v1/lanes/{lane}/txs/{id}`, and the answer to a submission. */
export interface TxStatus {
  id: string;
  status: 'pending' | 'committed';
  /** Committed: the block's height and the transaction's position in it. */
  height?: number;
  index?: number;
  /** Committed: false when the app refused it (it is in a block either way), with `error`. */
  ok?: boolean;
  error?: string;
  /** What the app returned for a committed transaction it accepted, when it returned something. */
  result?: JsonValue;
}

/** A replica in `GET /v1/cluster`. */
export interface ClusterReplica {
  id: string;
  url: string;
  pid: number;
  /** The Baton version it runs. */
  version: string;
  ready: boolean;
  /** App name → the versions of it this replica runs. */
  apps: Record<string, string[]>;
}

/** A lane in `GET /v1/cluster`. */
export interface ClusterLane {
  lane: string;
  /** The replica producing under the current term; null while a new leader is claiming it. */
  leader: string | null;
  term: number;
  height: number;
}

/** `GET /v1/cluster`. */
export interface ClusterView {
  /** The coordination backend that grants terms. */
  elector: string;
  replicas: ClusterReplica[];
  lanes: ClusterLane[];
}

/** `GET /v1/lanes/{lane}`. */
export interface LaneInfo extends ClusterLane {
  /** The app the lane runs. */
  app: string;
  /** Its active version; null for a lane from before versions were recorded, until its next block. */
  version: string | null;
  /** A version proposed and not switched to yet. */
  proposedVersion: string | null;
}

/** `GET /v1/lanes/{lane}/state/{key}`: one state entry, read at `height`. */
export interface StateValue {
  key: string;
  /** null when the key is absent. */
  value: JsonValue | null;
  height: number;
}

/** What `query()` resolves with: the app query's result, computed over the state at `height`. */
export interface QueryResult<T = JsonValue> {
  result: T;
  height: number;
}

/** The blocks of a lane produced by one app version (inclusive heights). */
export interface VersionSpan {
  /** null for blocks written before versions were recorded. */
  version: string | null;
  firstHeight: number;
  lastHeight: number;
}

/** `GET /v1/lanes/{lane}/versions`. */
export interface Versions {
  lane: string;
  app: string;
  /** The active version (null: a lane from before versions, until its next block). */
  active: string | null;
  /** A version proposed and not switched to yet. */
  proposed: string | null;
  /** Oldest first; empty before the first block. */
  versions: VersionSpan[];
}

/** WebSocket close codes of the block stream (see the README, "Streams"). */
export interface StreamCloseCodes {
  /** The replica is draining (restart or upgrade): reconnect to another replica. */
  readonly draining: 1012;
  /** The subscriber read too slowly and the replica's bounded buffer filled up. */
  readonly slowConsumer: 4008;
  /** The replica holds more than its share of subscribers: reconnect to another replica. */
  readonly rebalance: 4001;
  /** No pong to the replica's pings: the connection is presumed dead. */
  readonly heartbeatTimeout: 4002;
  /** The replica failed to read blocks (database unavailable); resume elsewhere. */
  readonly unavailable: 1011;
}

/** One message of `GET /v1/lanes/{lane}/stream`. */
export type StreamMessage = { type: 'block'; block: Block } | { type: 'heartbeat'; height: number };
