import { setMaxListeners } from 'node:events';
import { createClient } from '../client/index.js';
import { sleep } from '../time.js';
import type { History, StreamRecord } from './history.js';
import type { Random } from './random.js';
import { rawSubscribe } from './raw-stream.js';

export interface StreamWatchOptions {
  endpoints: readonly string[];
  lanes: readonly string[];
  /** Subscribers per lane (default 2): the first from height 0 at once, the others later from a cursor. */
  perLane: number;
  rng: Random;
  history: History;
  /** The lane's current height, for subscribers that start from a cursor. */
  height(lane: string): Promise<number>;
}

/**
 * Stream subscribers through the SDK's resumable iterator, started at different replicas and
 * times, each recording every block it receives. They ride through every fault: a lost replica
 * means a resume from the cursor elsewhere, which must neither skip nor repeat a block.
 */
export class StreamWatch {
  readonly records: StreamRecord[] = [];
  private readonly controller = new AbortController();
  private readonly tasks: Promise<void>[] = [];

  constructor(private readonly options: StreamWatchOptions) {
    setMaxListeners(0, this.controller.signal);
  }

  /** Starts every subscriber; they run until `stop()` or until `signal` aborts. */
  start(signal?: AbortSignal): void {
    signal?.addEventListener('abort', () => this.controller.abort(signal.reason), { once: true });
    const { options } = this;
    let n = 0;
    for (const lane of options.lanes) {
      const raw: StreamRecord = { subscriber: `raw-${lane}`, lane, after: 0, startedAt: 0, blocks: [] };
      this.records.push(raw);
      const rawOptions = { lane, endpoints: options.endpoints, history: options.history, idleMs: 12_000 };
      this.tasks.push(rawSubscribe(rawOptions, raw, this.controller.signal));
      for (let i = 0; i < options.perLane; i++) {
        const index = n++;
        const delayMs = i === 0 ? 0 : options.rng.int(2_000, 15_000);
        this.tasks.push(this.subscribe(`s${index + 1}`, lane, index, delayMs));
      }
    }
  }

  /** The lowest height every subscriber of `lane` has reached. */
  reached(lane: string): number {
    const mine = this.records.filter((r) => r.lane === lane);
    return Math.min(...mine.map((r) => r.blocks.at(-1)?.height ?? r.after));
  }

  async stop(): Promise<void> {
    this.controller.abort(new Error('the run is over'));
    await Promise.all(this.tasks);
  }

  private async subscribe(name: string, lane: string, index: number, delayMs: number): Promise<void> {
    const { options } = this;
    const signal = this.controller.signal;
    await sleep(delayMs, signal);
    if (signal.aborted) return;
    const endpoints = [...options.endpoints.slice(index % options.endpoints.length), ...options.endpoints];
    const unique = [...new Set(endpoints)];
    let after = 0;
    if (delayMs > 0) after = Math.max(0, (await options.height(lane).catch(() => 0)) - options.rng.int(0, 5));
    const record: StreamRecord = {
      subscriber: name,
      lane,
      after,
      startedAt: options.history.now(),
      blocks: [],
    };
    this.records.push(record);
    const client = createClient({ endpoints: unique });
    try {
      for await (const block of client.blocks(lane, { after, signal, idleTimeoutMs: 5_000 })) {
        record.blocks.push({ height: block.height, hash: block.hash, at: options.history.now() });
      }
    } catch (error) {
      if (!signal.aborted) record.error = error instanceof Error ? error.message : String(error);
    }
  }
}
