/**
 * WebSocket close codes of `GET /v1/lanes/{lane}/stream`, shared by server and SDK.
 * After any of them a subscriber resumes with `?after=<last height it saw>`, on any replica.
 */
export const STREAM_CLOSE = {
  /** The replica is draining (restart or upgrade): reconnect to another replica. */
  draining: 1012,
  /** The subscriber read too slowly and the replica's bounded buffer filled up. */
  slowConsumer: 4008,
  /** The replica holds more than its share of subscribers: reconnect to another replica. */
  rebalance: 4001,
  /** No pong to the replica's pings: the connection is presumed dead. */
  heartbeatTimeout: 4002,
  /** The replica failed to read blocks (database unavailable); resume elsewhere. */
  unavailable: 1011,
} as const;

/** One message of a block stream (the block as the public API shows it: the SDK's own type). */
export type StreamMessage =
  { type: 'block'; block: import('./client/types.js').Block } | { type: 'heartbeat'; height: number };
