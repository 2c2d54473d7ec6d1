import type { Worker } from 'node:worker_threads';
import type { FromWorker, LoadCounters, ToWorker } from './load-worker.js';

/** A load thread and a typed way to wait for its next message. */
export class LoadThread {
  private readonly inbox: FromWorker[] = [];
  private waiting: (() => void) | null = null;
  private failure: Error | null = null;

  constructor(readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => {
      this.inbox.push(m);
      this.waiting?.();
    });
    worker.on('error', (e) => {
      this.failure = e;
      this.waiting?.();
    });
  }

  send(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }

  async next<T extends FromWorker['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<FromWorker, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.failure) throw this.failure;
      const i = this.inbox.findIndex((m) => m.type === type);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Extract<FromWorker, { type: T }>;
      if (Date.now() > deadline) throw new Error(`load thread: no "${type}" message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 100);
      });
      this.waiting = null;
    }
  }
}

export function sumCounters(list: LoadCounters[]): LoadCounters {
  const out: LoadCounters = { sent: 0, accepted: 0, errors: 0, errorKinds: {} };
  for (const c of list) {
    out.sent += c.sent;
    out.accepted += c.accepted;
    out.errors += c.errors;
    for (const [k, v] of Object.entries(c.errorKinds)) out.errorKinds[k] = (out.errorKinds[k] ?? 0) + v;
  }
  return out;
}

/** The load threads' counters at a mark, and the committed count taken with them. */
export interface LoadMark {
  committed: number;
  counters: LoadCounters;
  /** performance.now() and Date.now() once both answered. */
  at: number;
  wall: number;
}

/**
 * Mark `id` (0 opens the measured window, where the threads start keeping accept times; 1 closes
 * it): every thread's counters and `committed()`, asked at the same moment.
 */
export async function markThreads(
  threads: readonly LoadThread[],
  id: number,
  committed: () => Promise<number>,
): Promise<LoadMark> {
  for (const t of threads) t.send({ type: 'mark', id });
  const [count, marks] = await Promise.all([
    committed(),
    Promise.all(threads.map((t) => t.next('mark', 10_000))),
  ]);
  return {
    committed: count,
    counters: sumCounters(marks.map((m) => m.counters)),
    at: performance.now(),
    wall: Date.now(),
  };
}
