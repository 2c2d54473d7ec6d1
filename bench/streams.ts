import { Worker } from 'node:worker_threads';
import { settlesWithin, sleep } from '../src/time.js';
import type { Cleanups } from './cleanups.js';
import { BenchCluster } from './cluster.js';
import type { CommitWatchData, FromCommitWatch } from './commit-watch-worker.js';
import type { BenchEnv } from './env.js';
import { SteadyLoad, lightSender, type LoadStats } from './load.js';
import { Progress } from './progress.js';
import type { FromSubscriberWorker, SubscriberWorkerData, ToSubscriberWorker } from './subscriber-worker.js';
import { summarize, type Summary } from './stats.js';

export interface StreamsOptions {
  subscribers: number;
  /** Load before the measured window: its blocks are checked for gaps but not timed. */
  warmupS: number;
  /** The measured window. */
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
  /** The last height committed during the warm-up: later blocks are the measured ones. */
  warmupHeight: number;
  /** Latency of the warm-up's blocks, reported beside the measured figure. */
  warmupLatencyMs: Summary | null;
  /**
   * Receive time − first sighting of the block's commit (its notification, or a ~2 ms database
   * poll, on a thread of its own), ms: blocks after the warm-up.
   */
  latencyMs: Summary | null;
  /** Deliveries seen by a subscriber before the database poll saw the block (latency < 0). */
  beforeDbSeen: number;
  /** The same latency per replica the subscribers read from. */
  latencyByReplica: Record<string, Summary | null>;
  /** Subscribers per replica (each subscriber is given that replica as its only endpoint). */
  perReplica: Record<string, number>;
  /** Bench threads the subscribers are spread over. */
  subscriberThreads: number;
  /** The worst subscriber thread's event-loop delay: the part of the latency that is the bench's own. */
  subscriberLoopDelayMs: { p99: number; max: number };
  load: LoadStats;
}

/** Subscribers are spread over this many threads, so no one event loop queues all deliveries. */
const SUBSCRIBER_THREADS = 4;

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

/** A subscriber thread and its latest report. */
class SubscriberThread {
  slowest: number;
  private readonly worker: Worker;
  private readonly done: Promise<Extract<FromSubscriberWorker, { type: 'done' }>>;

  constructor(data: SubscriberWorkerData) {
    this.slowest = data.after;
    this.worker = new Worker(new URL('./subscriber-worker.js', import.meta.url), { workerData: data });
    this.done = new Promise((resolve, reject) => {
      this.worker.on('message', (m: FromSubscriberWorker) => {
        if (m.type === 'cursor') this.slowest = m.slowest;
        else resolve(m);
      });
      this.worker.on('error', reject);
      this.worker.on('exit', (code) =>
        reject(new Error(`subscriber thread exited (${code}) before reporting`)),
      );
    });
    this.done.catch(() => undefined);
  }

  /** Closes the subscribers and returns what they received (bounded). */
  async stop(): Promise<Extract<FromSubscriberWorker, { type: 'done' }>> {
    this.worker.postMessage({ type: 'stop' } satisfies ToSubscriberWorker);
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('subscriber thread did not report within 10 s')), 10_000).unref(),
    );
    try {
      return await Promise.race([this.done, timeout]);
    } finally {
      await this.worker.terminate();
    }
  }

  kill(): Promise<number> {
    return this.worker.terminate();
  }
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
  const threads: SubscriberThread[] = [];
  const stopSubscribers = cleanups.add('stream subscribers', async () => {
    await Promise.all(threads.map((t) => t.kill()));
  });
  // Nothing stops here, so the load needs no SDK retries: a lighter client leaves the CPU to the replicas.
  const sender = lightSender(cluster.urls, options.lane);
  const load = new SteadyLoad({
    urls: cluster.urls,
    lane: options.lane,
    ratePerSec: options.ratePerSec,
    maxInFlight: Math.max(100, options.ratePerSec * 3),
    keys: 500,
    send: sender.send,
  });
  const stopLoad = cleanups.add('streams load', () => void load.stop().then(sender.close));
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
    progress.update(
      `${options.subscribers} subscribers from height ${after}, one replica each, in ${SUBSCRIBER_THREADS} threads`,
    );
    const urlOf = (i: number) => cluster.urls[i % cluster.urls.length]!;
    for (let t = 0; t < SUBSCRIBER_THREADS; t++) {
      const urls = Array.from({ length: options.subscribers }, (_, i) => i)
        .filter((i) => i % SUBSCRIBER_THREADS === t)
        .map(urlOf);
      if (urls.length > 0) threads.push(new SubscriberThread({ urls, lane: options.lane, after }));
    }
    // Let the sockets open before the load starts, so that deliveries are live, not catch-up.
    await sleep(1_000);
    load.start();
    const slowest = () => Math.min(...threads.map((t) => t.slowest));
    // Replicas' first blocks under load run through code not yet optimised by the JIT, and the
    // load ramps up: those blocks are delivered and checked, but timed apart from the rest.
    const warmupStarted = performance.now();
    while (performance.now() - warmupStarted < options.warmupS * 1000) {
      await sleep(250);
      progress.update(`warm-up: tip ${watch.tip}, slowest subscriber at ${slowest()}`);
    }
    const warmupHeight = watch.tip;
    const started = performance.now();
    while (performance.now() - started < options.durationS * 1000) {
      await sleep(1_000);
      const s = load.snapshot();
      progress.update(
        `${Math.round((performance.now() - started) / 1000)}/${options.durationS} s: ${s.accepted} tx accepted, ` +
          `tip ${watch.tip}, slowest subscriber at ${slowest()}`,
      );
    }
    const loadStats = await load.stop();
    stopLoad();
    // Every subscriber should reach the last committed height; wait (bounded) for stragglers.
    await sleep(200);
    const lastHeight = watch.tip;
    const drainBy = performance.now() + 10_000;
    while (slowest() < lastHeight && performance.now() < drainBy) await sleep(20);
    const reports = await Promise.all(threads.map((t) => t.stop()));
    stopSubscribers();
    await watch.stop();

    const subs = reports.flatMap((r) => r.subscribers);
    const latencies: number[] = [];
    const warmupLatencies: number[] = [];
    const byReplica: Record<string, number[]> = {};
    let missing = 0;
    let deliveries = 0;
    for (const s of subs) {
      const replica = cluster.idOf(s.url);
      const heights = new Set<number>();
      for (const [height, at] of s.received) {
        if (height > lastHeight) continue;
        deliveries++;
        heights.add(height);
        const seen = watch.seenAt.get(height);
        if (seen !== undefined && height <= warmupHeight) warmupLatencies.push(at - seen);
        else if (seen !== undefined) {
          latencies.push(at - seen);
          (byReplica[replica] ??= []).push(at - seen);
        }
      }
      missing += lastHeight - after - heights.size;
    }
    const perReplica: Record<string, number> = {};
    for (const s of subs) perReplica[cluster.idOf(s.url)] = (perReplica[cluster.idOf(s.url)] ?? 0) + 1;
    const result: StreamsResult = {
      options,
      after,
      lastHeight,
      deliveries,
      missing,
      duplicates: subs.reduce((n, s) => n + s.duplicates, 0),
      outOfOrder: subs.reduce((n, s) => n + s.outOfOrder, 0),
      subscriberErrors: subs.filter((s) => s.error !== undefined).length,
      warmupHeight,
      warmupLatencyMs: summarize(warmupLatencies),
      latencyMs: summarize(latencies),
      latencyByReplica: Object.fromEntries(Object.entries(byReplica).map(([k, v]) => [k, summarize(v)])),
      beforeDbSeen: latencies.filter((v) => v < 0).length,
      perReplica,
      subscriberThreads: threads.length,
      subscriberLoopDelayMs: {
        p99: Math.max(...reports.map((r) => r.loopDelayP99Ms)),
        max: Math.max(...reports.map((r) => r.loopDelayMaxMs)),
      },
      load: loadStats,
    };
    const l = result.latencyMs;
    progress.done(
      `${lastHeight - after} blocks × ${options.subscribers} subscribers: ${deliveries} deliveries, ` +
        `p50 ${l?.p50.toFixed(1) ?? '—'} ms, p99 ${l?.p99.toFixed(1) ?? '—'} ms, missing ${missing}, duplicates ${result.duplicates}`,
    );
    return result;
  } finally {
    stopSubscribers();
    await load.stop();
    sender.close();
    stopLoad();
    await watch?.stop().catch(() => undefined);
    unregisterWatch();
    await cluster.stop();
  }
}
