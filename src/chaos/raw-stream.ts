import WebSocket from 'ws';
import type { StreamMessage } from '../stream-codes.js';
import { sleep } from '../time.js';
import type { History, StreamRecord } from './history.js';

export interface RawSubscriberOptions {
  lane: string;
  endpoints: readonly string[];
  history: History;
  /** Reconnect when nothing (block or heartbeat) arrived for this long. */
  idleMs: number;
}

/**
 * A stream subscriber on the bare WebSocket protocol, without the SDK: it records every block
 * message exactly as replicas send it, and after any close resumes on the next replica with
 * `?after=<last height received>`. The SDK drops repeats and reconnects on gaps, so only this
 * subscriber shows whether the replicas themselves keep invariant 4.
 */
export async function rawSubscribe(
  options: RawSubscriberOptions,
  record: StreamRecord,
  signal: AbortSignal,
): Promise<void> {
  let last = record.after;
  let failures = 0;
  for (let n = 0; !signal.aborted; n++) {
    const base = options.endpoints[n % options.endpoints.length]!.replace(/^http/, 'ws').replace(/\/+$/, '');
    const url = `${base}/v1/lanes/${encodeURIComponent(options.lane)}/stream?after=${last}`;
    const received = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url);
      let count = 0;
      let lastSeen = Date.now();
      const done = (): void => {
        clearInterval(idle);
        signal.removeEventListener('abort', onAbort);
        ws.removeAllListeners('message');
        ws.terminate();
        resolve(count);
      };
      const onAbort = (): void => done();
      const idle = setInterval(() => {
        if (Date.now() - lastSeen > options.idleMs) done();
      }, 500);
      signal.addEventListener('abort', onAbort, { once: true });
      ws.on('message', (data: Buffer) => {
        lastSeen = Date.now();
        const message = JSON.parse(data.toString()) as StreamMessage;
        if (message.type !== 'block') return;
        count++;
        const { height, hash } = message.block;
        record.blocks.push({ height, hash, at: options.history.now() });
        last = Math.max(last, height);
      });
      ws.on('error', () => undefined); // 'close' follows
      ws.on('close', done);
    });
    failures = received > 0 ? 0 : failures + 1;
    await sleep(Math.min(1_000, 50 * 2 ** Math.min(failures, 5)), signal);
  }
}
