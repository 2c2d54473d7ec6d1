import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { BatonError } from '../errors.js';
import type { Logger } from '../log.js';
import { publicBlock } from '../ledger/block.js';
import type { LaneFollower } from '../ledger/follower.js';
import type { LedgerStore } from '../ledger/store.js';
import { STREAM_CLOSE } from '../stream-codes.js';
import { sleep } from '../time.js';
import { findLane, intParam, pathSegment, refuseSocket, requestUrl } from './http.js';
import { Waker } from '../waker.js';

export interface StreamLimits {
  /** Bytes a subscriber may have unsent before the replica stops sending to it. */
  highWaterBytes: number;
  /** How long a subscriber may stay above the high-water mark before it is closed (4008). */
  slowConsumerMs: number;
  /** Ping interval; a subscriber that misses a pong for a whole interval is closed (4002). */
  heartbeatMs: number;
  /** Blocks read from the database per page while a subscriber catches up. */
  pageSize: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  highWaterBytes: 1 << 20,
  slowConsumerMs: 10_000,
  heartbeatMs: 5_000,
  pageSize: 200,
};

const STREAM_PATH = /^\/v1\/lanes\/([^/]+)\/stream$/;

class Subscriber {
  readonly waker = new Waker();
  alive = true;

  constructor(
    readonly ws: WebSocket,
    readonly lane: string,
    public cursor: number,
  ) {}
}

/** WebSocket block streams: every block above `after`, in order, then live; bounded memory per subscriber. */
export class StreamHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: false });
  private readonly subscribers = new Set<Subscriber>();
  private readonly unsubscribe: Array<() => void> = [];
  private accepting = true;

  constructor(
    private readonly lanes: ReadonlyMap<string, { follower: LaneFollower }>,
    private readonly store: LedgerStore,
    private readonly logger: Logger,
    private readonly limits: StreamLimits = DEFAULT_STREAM_LIMITS,
  ) {
    // A handshake ws refuses (bad key, version, upgrade header) is answered like any other error.
    this.wss.on('wsClientError', (error, socket) =>
      refuseSocket(socket, new BatonError('bad_request', `invalid WebSocket handshake: ${error.message}`)),
    );
    for (const [lane, { follower }] of lanes) this.watchLane(lane, follower);
  }

  /** Wakes the lane's subscribers on each new block; lanes created at run time are added here. */
  watchLane(lane: string, follower: LaneFollower): void {
    this.unsubscribe.push(
      follower.events.on('block', () => {
        for (const s of this.subscribers) if (s.lane === lane) s.waker.wake();
      }),
    );
  }

  get count(): number {
    return this.subscribers.size;
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(req, socket, head),
    );
  }

  /** Closes up to `n` subscribers with `code` (newest first, so long-lived ones stay put). */
  close(code: number, reason: string, n = Infinity): number {
    const victims = [...this.subscribers].reverse().slice(0, n);
    for (const s of victims) this.end(s, code, reason);
    return victims.length;
  }

  /** Refuses new subscribers (503 draining); existing ones keep streaming. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Stops accepting subscribers and closes every one with 1012 (draining). */
  drain(): void {
    this.accepting = false;
    this.close(STREAM_CLOSE.draining, 'replica draining: resume from your cursor on another replica');
  }

  stop(): void {
    this.drain();
    for (const off of this.unsubscribe.splice(0)) off();
    this.wss.close();
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let lane: string, follower: LaneFollower, after: number;
    try {
      const url = requestUrl(req.url);
      const match = STREAM_PATH.exec(url.pathname);
      if (!match) throw new BatonError('not_found');
      if (req.method !== 'GET') throw new BatonError('method_not_allowed');
      if (!this.accepting) throw new BatonError('draining');
      lane = pathSegment(match[1]!);
      follower = findLane(this.lanes, lane).follower;
      // Without `after` the stream starts live, at the current tip.
      after = intParam(url.searchParams.get('after'), 'after', follower.height, 0, Number.MAX_SAFE_INTEGER);
    } catch (error) {
      return refuseSocket(socket, error instanceof BatonError ? error : new BatonError('bad_request'));
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const subscriber = new Subscriber(ws, lane, after);
      this.subscribers.add(subscriber);
      ws.on('close', () => this.forget(subscriber));
      ws.on('error', () => this.forget(subscriber));
      ws.on('message', () => undefined); // subscribers have nothing to say; ignore
      void this.serve(subscriber, follower);
    });
  }

  private forget(s: Subscriber): void {
    s.alive = false;
    s.waker.wake();
    this.subscribers.delete(s);
  }

  private end(s: Subscriber, code: number, reason: string): void {
    if (!s.alive) return;
    this.forget(s);
    s.ws.close(code, reason);
    // A peer that never answers the close handshake is cut after a grace period.
    setTimeout(() => s.ws.terminate(), 2_000).unref();
  }

  /** One subscriber's loop: send what it lacks (ring or database), then wait for the next block. */
  private async serve(s: Subscriber, follower: LaneFollower): Promise<void> {
    let pong = true;
    s.ws.on('pong', () => (pong = true));
    const heartbeat = setInterval(() => {
      if (!pong) return this.end(s, STREAM_CLOSE.heartbeatTimeout, 'no pong');
      pong = false;
      s.ws.ping();
      if (s.cursor >= follower.height) this.send(s, JSON.stringify({ type: 'heartbeat', height: s.cursor }));
    }, this.limits.heartbeatMs);
    try {
      while (s.alive) {
        if (s.cursor >= follower.height) {
          await s.waker.wait(this.limits.heartbeatMs, neverAborted);
          continue;
        }
        const next = follower.recent.get(s.cursor + 1);
        if (next) {
          if (!(await this.sendBounded(s, next.message))) return;
          s.cursor = next.record.height;
          continue;
        }
        const page = await this.store.blocksAfter(s.lane, s.cursor, this.limits.pageSize);
        for (const record of page) {
          if (!s.alive || record.height !== s.cursor + 1) break;
          if (!(await this.sendBounded(s, JSON.stringify({ type: 'block', block: publicBlock(record) }))))
            return;
          s.cursor = record.height;
        }
      }
    } catch (error) {
      this.logger.warn('stream failed', { lane: s.lane, error });
      this.end(s, STREAM_CLOSE.unavailable, 'could not read blocks: resume from your cursor');
    } finally {
      clearInterval(heartbeat);
    }
  }

  private send(s: Subscriber, message: string): void {
    if (s.alive) s.ws.send(message);
  }

  /** Sends once the subscriber's buffer is below the high-water mark; closes it (4008) if it stays above. */
  private async sendBounded(s: Subscriber, message: string): Promise<boolean> {
    const deadline = Date.now() + this.limits.slowConsumerMs;
    while (s.alive && s.ws.bufferedAmount > this.limits.highWaterBytes) {
      if (Date.now() > deadline) {
        this.end(s, STREAM_CLOSE.slowConsumer, 'slow consumer: resume from your cursor');
        return false;
      }
      await sleep(10);
    }
    if (!s.alive) return false;
    s.ws.send(message);
    return true;
  }
}

const neverAborted = new AbortController().signal;
