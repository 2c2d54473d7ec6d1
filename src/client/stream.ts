import { STREAM_CLOSE } from '../stream-codes.js';
import { delay, jitteredBackoff } from './retry.js';
import type { Block, StreamMessage } from './types.js';

/** The subset of the WebSocket API used here; the browser's and the `ws` package's both fit. */
interface SocketLike {
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  close(code?: number, reason?: string): void;
}
type SocketConstructor = new (url: string) => SocketLike;

async function socketConstructor(): Promise<SocketConstructor> {
  const native = (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
  if (native) return native;
  const name = 'ws'; // a variable, so browser bundlers leave this Node-only fallback alone
  const mod = (await import(/* @vite-ignore */ name)) as { default: SocketConstructor };
  return mod.default;
}

export interface BlockStreamOptions {
  /** Yield blocks above this height (default 0: from the first block). */
  after?: number;
  signal?: AbortSignal;
  /** Reconnect when nothing (block or heartbeat) arrived for this long (default 15 s). */
  idleTimeoutMs?: number;
  /** Blocks held for a slow consumer before the socket is closed and later resumed (default 1000). */
  maxBuffered?: number;
}

/** Reconnects at once after these closes: the replica asked us to move or is going away. */
const MOVE_ON = new Set<number>([STREAM_CLOSE.draining, STREAM_CLOSE.rebalance, STREAM_CLOSE.slowConsumer]);

/**
 * Every block of `lane` above `after`, in order, exactly once, then live; survives the loss of
 * the replica it reads from by resuming from its cursor on the next endpoint.
 */
export async function* streamBlocks(
  endpoints: readonly string[],
  lane: string,
  options: BlockStreamOptions = {},
): AsyncGenerator<Block, void, undefined> {
  const Socket = await socketConstructor();
  const signal = options.signal;
  const idleTimeoutMs = options.idleTimeoutMs ?? 15_000;
  const maxBuffered = options.maxBuffered ?? 1_000;
  let cursor = options.after ?? 0; // last height received (queued or yielded)
  let endpoint = Math.floor(Math.random() * endpoints.length);
  let failures = 0;
  const queue: Block[] = [];
  let wake: (() => void) | null = null;
  const notify = (): void => {
    wake?.();
    wake = null;
  };
  let socket: SocketLike | null = null;
  let closed: { code: number } | null = { code: 0 };
  let lastSeen = Date.now();
  signal?.addEventListener('abort', notify, { once: true });
  const idleCheck = setInterval(
    () => {
      if (socket && Date.now() - lastSeen > idleTimeoutMs) socket.close(4000, 'idle');
    },
    Math.min(1_000, idleTimeoutMs),
  );

  const connect = (): void => {
    const base = endpoints[endpoint % endpoints.length]!.replace(/^http/, 'ws').replace(/\/+$/, '');
    const ws = new Socket(`${base}/v1/lanes/${encodeURIComponent(lane)}/stream?after=${cursor}`);
    socket = ws;
    closed = null;
    lastSeen = Date.now();
    ws.onmessage = (event) => {
      lastSeen = Date.now();
      const message = JSON.parse(String(event.data)) as StreamMessage;
      if (message.type !== 'block') return;
      const { height } = message.block;
      if (height <= cursor) return; // already have it (a resume overlaps)
      if (height !== cursor + 1) {
        ws.close(4000, 'gap'); // cannot happen with a correct replica; resume from the cursor
        return;
      }
      failures = 0;
      cursor = height;
      queue.push(message.block);
      if (queue.length >= maxBuffered) ws.close(1000, 'consumer is slow; resuming later');
      notify();
    };
    ws.onclose = (event) => {
      if (socket === ws) socket = null;
      closed = { code: event.code };
      notify();
    };
    ws.onerror = () => undefined; // onclose follows
  };

  try {
    while (!signal?.aborted) {
      if (queue.length > 0) {
        yield queue.shift()!;
        continue;
      }
      if (closed) {
        const code = closed.code;
        if (code !== 0 && !MOVE_ON.has(code) && code !== 1000) {
          failures++;
          await delay(jitteredBackoff(failures, 50, 2_000), signal).catch(() => undefined);
        }
        if (signal?.aborted) break;
        // Resume elsewhere: a random other endpoint, so a drained replica's subscribers spread out.
        if (code !== 0 && endpoints.length > 1)
          endpoint += 1 + Math.floor(Math.random() * (endpoints.length - 1));
        connect();
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    clearInterval(idleCheck);
    signal?.removeEventListener('abort', notify);
    (socket as SocketLike | null)?.close(1000, 'done');
  }
}
