/**
 * A share of the streams section's SDK block subscribers, on a thread of their own: 100 WebSockets
 * on one event loop queue each block behind the others' and measure the bench, not the replicas.
 * Each subscriber reads from one replica; every delivery is recorded with its arrival time in ms
 * since the epoch (performance.timeOrigin + performance.now(), comparable across threads).
 */
import { setMaxListeners } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { createClient } from '../src/client/index.js';

export interface SubscriberWorkerData {
  /** One entry per subscriber: the replica URL it reads from. */
  urls: string[];
  lane: string;
  after: number;
}

export interface SubscriberRecord {
  url: string;
  /** [height, arrival ms] per delivery, in arrival order. */
  received: Array<[number, number]>;
  duplicates: number;
  outOfOrder: number;
  error?: string;
}

export type ToSubscriberWorker = { type: 'stop' };
export type FromSubscriberWorker =
  | { type: 'cursor'; slowest: number }
  | { type: 'done'; subscribers: SubscriberRecord[]; loopDelayP99Ms: number; loopDelayMaxMs: number };

const { urls, lane, after } = workerData as SubscriberWorkerData;
const abort = new AbortController();
setMaxListeners(urls.length + 10, abort.signal);
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();

const records: SubscriberRecord[] = [];
const cursors: number[] = [];
const runs = urls.map(async (url, i) => {
  const record: SubscriberRecord = { url, received: [], duplicates: 0, outOfOrder: 0 };
  records.push(record);
  cursors[i] = after;
  try {
    for await (const block of createClient({ endpoints: [url] }).blocks(lane, {
      after,
      signal: abort.signal,
    })) {
      const at = performance.timeOrigin + performance.now();
      if (block.height <= cursors[i]) record.duplicates++;
      else if (block.height !== cursors[i] + 1) record.outOfOrder++;
      cursors[i] = Math.max(cursors[i], block.height);
      record.received.push([block.height, at]);
    }
  } catch (error) {
    if (!abort.signal.aborted) record.error = error instanceof Error ? error.message : String(error);
  }
});

const report = setInterval(() => {
  parentPort!.postMessage({ type: 'cursor', slowest: Math.min(...cursors) } satisfies FromSubscriberWorker);
}, 100);

parentPort!.on('message', (m: ToSubscriberWorker) => {
  if (m.type !== 'stop') return;
  clearInterval(report);
  loopDelay.disable();
  abort.abort();
  void Promise.all(runs).then(() => {
    parentPort!.postMessage({
      type: 'done',
      subscribers: records,
      loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      loopDelayMaxMs: loopDelay.max / 1e6,
    } satisfies FromSubscriberWorker);
  });
});
