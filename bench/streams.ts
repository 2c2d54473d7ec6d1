import { setMaxListeners } from 'node:events';
import { Worker } from 'node:worker_threads';
import { createClient } from '../src/client/index.js';
import { settlesWithin, sleep } from '../src/time.js';
import type { Cleanups } from './cleanups.js';
import { BenchCluster } from './cluster.js';
import type { CommitWatchData, FromCommitWatch } from './commit-watch-worker.js';
import type { BenchEnv } from './env.js';
import { SteadyLoad, type LoadStats } from './load.js';
import { Progress } from './progress.js';
import { summarize, type Summary } from './stats.js';

export interface StreamsOptions {
  subscribers: number;
  durationS: number;
  ratePerSec: number;
  leaseTtlMs: number;
  lane: string;
}

export interface StreamsResult {
  options: StreamsOptions;
  /** Heights every subscriber had to receive: (after, lastHeight]. */
  after: number;
  lastHeight: number;
  deliveries: number;
  /** Expected (subscriber, height) pairs never received before the end of the drain wait. */
  missing: number;
  /** Heights received more than once by the same subscriber. */
  duplicates: number;
  /** Heights received out of order (not cursor + 1). */
  outOfOrder: number;
  /** Subscribers whose iterator threw. */
  subscriberErrors: number;
  /** Receive time − first sighting of the block in the database (polled every ~2 ms on a thread of its own), ms. */
  latencyMs: Summary | null;
  /** Deliveries seen by a subscriber before the database poll saw the block (latency < 0). */
  beforeDbSeen: number;
  /** The same latency per replica the subscribers read from. */
  latencyByReplica: Record<string, Summary | null>;
  /** Subscribers per replica (each subscriber is given that replica as its only endpoint). */
  perReplica: Record<string, number>;
  load: LoadStats;
}

/** Epoch milliseconds with sub-millisecond precision, comparable with the commit-watch thread's. */
const now = (): number => performance.timeOrigin + performance.now();

/** First sightings of new blocks in the database, from the commit-watch thread. */
class CommitWatch {
  readonly seenAt = new Map<number, number>();
  tip: number;
  private readonly worker: Worker;
  private readonly stopped: Promise<void>;
  private failure: Error | null = null;

  constructor(cluster: BenchCluster, from: number) {
    this.tip = from;
    const workerData: CommitWatchData = {
      databaseUrl: cluster.databaseUrl,
      lane: cluster.options.lane,
      from,
    };
    this.worker = new Worker(new URL('./commit-watch-worker.js', import.meta.url), { workerData });
    this.stopped = new Promise((resolve) => {
      this.worker.on('message', (m: FromCommitWatch) => {
        if (m.type === 'stopped') resolve();
        else
          for (const [height, at] of m.heights) {
            this.seenAt.set(height, at);
            this.tip = Math.max(this.tip, height);
          }
      });
      this.worker.on('error', (e) => {
        this.failure = e;
        resolve();
      });
      this.worker.on('exit', () => resolve());
    });
  }

  /** Stops polling (bounded); throws if the thread failed. */
  async stop(): Promise<void> {
    this.worker.postMessage({ type: 'stop' });
    if (!(await settlesWithin(this.stopped, 5_000))) await this.worker.terminate();
    await this.worker.terminate();
    if (this.failure) throw this.failure;
  }

  kill(): Promise<number> {
    return this.worker.terminate();
  }
}

interface Subscriber {
  replica: string;
  received: Array<{ height: number; at: number }>;
  cursor: number;
  duplicates: number;
  outOfOrder: number;
  error?: string;
  done: Promise<void>;
}

/**
 * `subscribers` SDK block subscribers from the current tip, spread evenly over the replicas, while a
 * steady SDK load runs for `durationS`: per (block, subscriber), the time from the block's first
 * sighting in the database to its arrival at the subscriber, and whether every subscriber got every
 * height exactly once and in order.
 */
export async function streamsSection(
  env: BenchEnv,
  cleanups: Cleanups,
  options: StreamsOptions,
): Promise<StreamsResult> {
  const progress = new Progress('streams');
  progress.update(`starting ${3} replicas`);
  const cluster = await BenchCluster.start(env, cleanups, {
    name: 'streams',
    replicas: 3,
    leaseTtlMs: options.leaseTtlMs,
    lane: options.lane,
  });
  const abort = new AbortController();
  setMaxListeners(options.subscribers + 10, abort.signal); // one abort listener per subscriber
  const stopSubscribers = cleanups.add('stream subscribers', () => abort.abort());
  const load = new SteadyLoad({
    urls: cluster.urls,
    lane: options.lane,
    ratePerSec: options.ratePerSec,
    maxInFlight: Math.max(100, options.ratePerSec * 3),
    keys: 500,
  });
  const stopLoad = cleanups.add('streams load', () => void load.stop());
  let watch: CommitWatch | null = null;
  let unregisterWatch: () => void = () => undefined;
  try {
    await cluster.waitLeader();
    const db = await cluster.database();
    const { rows } = await db.query<{ h: string | null }>(
      'SELECT max(height) AS h FROM baton_blocks WHERE lane = $1',
      [options.lane],
    );
    const after = Number(rows[0]?.h ?? 0);
    watch = new CommitWatch(cluster, after);
    const w = watch;
    unregisterWatch = cleanups.add('streams commit watch', () => void w.kill());
    progress.update(`${options.subscribers} subscribers from height ${after}, one replica each`);
    const subs: Subscriber[] = Array.from({ length: options.subscribers }, (_, i) => {
      const url = cluster.urls[i % cluster.urls.length]!;
      const sub: Subscriber = {
        replica: cluster.idOf(url),
        received: [],
        cursor: after,
        duplicates: 0,
        outOfOrder: 0,
        done: Promise.resolve(),
      };
      const client = createClient({ endpoints: [url] });
      sub.done = (async () => {
        for await (const block of client.blocks(options.lane, { after, signal: abort.signal })) {
          const at = now();
          if (block.height <= sub.cursor) sub.duplicates++;
          else if (block.height !== sub.cursor + 1) sub.outOfOrder++;
          sub.cursor = Math.max(sub.cursor, block.height);
          sub.received.push({ height: block.height, at });
        }
      })().catch((error: unknown) => {
        if (!abort.signal.aborted) sub.error = error instanceof Error ? error.message : String(error);
      });
      return sub;
    });
    // Let the sockets open before the load starts, so that deliveries are live, not catch-up.
    await sleep(1_000);
    load.start();
    const started = performance.now();
    while (performance.now() - started < options.durationS * 1000) {
      await sleep(1_000);
      const s = load.snapshot();
      const slowest = Math.min(...subs.map((x) => x.cursor));
      progress.update(
        `${Math.round((performance.now() - started) / 1000)}/${options.durationS} s: ${s.accepted} tx accepted, ` +
          `tip ${watch.tip}, slowest subscriber at ${slowest}`,
      );
    }
    const loadStats = await load.stop();
    stopLoad();
    // Every subscriber should reach the last committed height; wait (bounded) for stragglers.
    await sleep(200);
    const lastHeight = watch.tip;
    const drainBy = performance.now() + 10_000;
    while (subs.some((s) => s.cursor < lastHeight) && performance.now() < drainBy) await sleep(20);
    abort.abort();
    await Promise.all(subs.map((s) => s.done));
    await watch.stop();

    const latencies: number[] = [];
    const byReplica: Record<string, number[]> = {};
    let missing = 0;
    let deliveries = 0;
    for (const s of subs) {
      const heights = new Set<number>();
      for (const r of s.received) {
        if (r.height > lastHeight) continue;
        deliveries++;
        heights.add(r.height);
        const seen = watch.seenAt.get(r.height);
        if (seen !== undefined) {
          latencies.push(r.at - seen);
          (byReplica[s.replica] ??= []).push(r.at - seen);
        }
      }
      missing += lastHeight - after - heights.size;
    }
    const perReplica: Record<string, number> = {};
    for (const s of subs) perReplica[s.replica] = (perReplica[s.replica] ?? 0) + 1;
    const result: StreamsResult = {
      options,
      after,
      lastHeight,
      deliveries,
      missing,
      duplicates: subs.reduce((n, s) => n + s.duplicates, 0),
      outOfOrder: subs.reduce((n, s) => n + s.outOfOrder, 0),
      subscriberErrors: subs.filter((s) => s.error !== undefined).length,
      latencyMs: summarize(latencies),
      latencyByReplica: Object.fromEntries(Object.entries(byReplica).map(([k, v]) => [k, summarize(v)])),
      beforeDbSeen: latencies.filter((v) => v < 0).length,
      perReplica,
      load: loadStats,
    };
    const l = result.latencyMs;
    progress.done(
      `${lastHeight - after} blocks × ${options.subscribers} subscribers: ${deliveries} deliveries, ` +
        `p50 ${l?.p50.toFixed(1) ?? '—'} ms, p99 ${l?.p99.toFixed(1) ?? '—'} ms, missing ${missing}, duplicates ${result.duplicates}`,
    );
    return result;
  } finally {
    abort.abort();
    stopSubscribers();
    await load.stop();
    stopLoad();
    await watch?.stop().catch(() => undefined);
    unregisterWatch();
    await cluster.stop();
  }
}
