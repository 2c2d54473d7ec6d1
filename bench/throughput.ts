import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { sleep } from '../src/time.js';
import type { Cleanups } from './cleanups.js';
import { BenchCluster } from './cluster.js';
import { replicasCpuMeter, type CpuUse } from './cpu.js';
import type { BenchEnv } from './env.js';
import { BlockWatcher, commitLatencies } from './block-watcher.js';
import { cryptoCosts, type CryptoCosts } from './keys.js';
import { LoadThread, markThreads, sumCounters } from './load-thread.js';
import type { LoadWorkerData } from './load-worker.js';
import { summarizeProfiles, type ProfileSummary } from './profile.js';
import { Progress } from './progress.js';
import { summarize, type Summary } from './stats.js';

export interface ThroughputOptions {
  durationS: number;
  warmupS: number;
  replicas: number;
  leaseTtlMs: number;
  lane: string;
  /** HTTP requests in flight, over all load threads. */
  concurrency: number;
  workers: number;
  /** Pre-signed transactions: enough for this many accepted tx/s over warm-up + window. */
  presignRate: number;
  keysPerWorker: number;
  sampleEvery: number;
  /** When set, replicas run with --cpu-prof writing here, and the result carries a summary. */
  profileDir?: string;
}

export interface ThroughputResult {
  options: ThroughputOptions;
  presigned: number;
  signMs: number;
  windowS: number;
  committed: number;
  committedPerSec: number;
  accepted: number;
  acceptedPerSec: number;
  sent: number;
  errors: number;
  errorKinds: Record<string, number>;
  exhausted: boolean;
  /** Accepted but not yet committed at the end of the window (grows when commit lags intake). */
  backlogAtEnd: number;
  blocks: { count: number; meanTxs: number; maxTxs: number; meanIntervalMs: number };
  /** Committed tx in each whole second of the window (seen by polling blocks every 10 ms). */
  perSecond: Summary | null;
  acceptMs: Summary | null;
  commitLatencyMs: Summary | null;
  leader: string;
  cpu: CpuUse;
  crypto: CryptoCosts;
  profiles?: Array<ProfileSummary & { replica: string }>;
}

async function committedCount(db: pg.Client): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM baton_txs WHERE height IS NOT NULL',
  );
  return Number(rows[0]!.n);
}

/** Baton's committed signed-transaction rate with `replicas` replicas under a saturating load. */
export async function throughputSection(
  env: BenchEnv,
  cleanups: Cleanups,
  options: ThroughputOptions,
): Promise<ThroughputResult> {
  const progress = new Progress('throughput');
  progress.update('measuring signing and verification costs');
  const crypto = await cryptoCosts();
  progress.update(`starting ${options.replicas} replicas`);
  const cluster = await BenchCluster.start(env, cleanups, {
    name: 'throughput',
    replicas: options.replicas,
    leaseTtlMs: options.leaseTtlMs,
    lane: options.lane,
    ...(options.profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] } : {}),
  });
  const pids = new Map(cluster.local.replicas.map((r) => [r.pid, r.options.id]));
  const db = new pg.Client({ connectionString: cluster.databaseUrl });
  const statsDb = new pg.Client({ connectionString: cluster.databaseUrl });
  const threads: LoadThread[] = [];
  let result: ThroughputResult;
  const unregister = cleanups.add('load threads', async () => {
    await Promise.all(threads.map((t) => t.worker.terminate()));
  });
  try {
    await db.connect();
    await statsDb.connect();
    const perWorker = Math.ceil(
      (options.presignRate * (options.warmupS + options.durationS + 1)) / options.workers,
    );
    const runId = Date.now().toString(36);
    progress.update(`pre-signing ${perWorker * options.workers} transactions in ${options.workers} threads`);
    for (let index = 0; index < options.workers; index++) {
      const workerData: LoadWorkerData = {
        index,
        urls: cluster.urls,
        lane: options.lane,
        count: perWorker,
        concurrency: Math.ceil(options.concurrency / options.workers),
        keys: options.keysPerWorker,
        sampleEvery: options.sampleEvery,
        runId,
        kind: 'faucet',
      };
      threads.push(new LoadThread(new Worker(new URL('./load-worker.js', import.meta.url), { workerData })));
    }
    const ready = await Promise.all(threads.map((t) => t.next('ready', 300_000)));
    const signMs = Math.max(...ready.map((r) => r.signMs));
    const leader = await cluster.waitLeader();

    const cpu = replicasCpuMeter(cluster.local.replicas, leader, env.postgresPid);
    const watcher = new BlockWatcher(statsDb, options.lane);
    watcher.start();
    for (const t of threads) t.send({ type: 'go' });
    progress.update(`warming up for ${options.warmupS} s`);
    await sleep(options.warmupS * 1000);

    const mark = (id: number) => markThreads(threads, id, () => committedCount(db));
    const m0 = await mark(0);
    cpu.start();
    const windowEnd = m0.at + options.durationS * 1000;
    for (let now = performance.now(); now < windowEnd; now = performance.now()) {
      progress.update(`load ${Math.floor((now - m0.at) / 1000) + 1}/${options.durationS} s`);
      await sleep(Math.min(1000, windowEnd - now));
    }
    const m1 = await mark(1);
    const cpuUse = cpu.stop();
    const { rows: backlogRows } = await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM baton_txs WHERE height IS NULL',
    );
    for (const t of threads) t.send({ type: 'stop' });
    const finals = await Promise.all(threads.map((t) => t.next('final', 30_000)));
    const windowS = (m1.at - m0.at) / 1000;

    progress.update('waiting for the sampled transactions to commit');
    const samples = finals.flatMap((f) => f.samples).filter(([, at]) => at >= m0.wall && at <= m1.wall);
    const latencies = await commitLatencies(db, watcher, samples);

    const { rows: blockRows } = await db.query<{ n: string; mean: string | null; max: string | null }>(
      `SELECT count(*) AS n, avg(cardinality(tx_ids)) AS mean, max(cardinality(tx_ids)) AS max
       FROM baton_blocks WHERE lane = $1 AND time_ms BETWEEN $2 AND $3`,
      [options.lane, m0.wall, m1.wall],
    );
    const blockCount = Number(blockRows[0]?.n ?? 0);
    const committed = m1.committed - m0.committed;
    const accepted = m1.counters.accepted - m0.counters.accepted;
    progress.done(
      `${Math.round(committed / windowS)} committed tx/s, ${Math.round(accepted / windowS)} accepted/s`,
    );
    result = {
      options,
      presigned: perWorker * options.workers,
      signMs,
      windowS,
      committed,
      committedPerSec: committed / windowS,
      accepted,
      acceptedPerSec: accepted / windowS,
      sent: m1.counters.sent - m0.counters.sent,
      errors: m1.counters.errors - m0.counters.errors,
      errorKinds: sumCounters(finals.map((f) => f.counters)).errorKinds,
      exhausted: finals.some((f) => f.exhaustedAt !== null && f.exhaustedAt <= m1.wall),
      backlogAtEnd: Number(backlogRows[0]?.n ?? 0),
      blocks: {
        count: blockCount,
        meanTxs: Number(blockRows[0]?.mean ?? 0),
        maxTxs: Number(blockRows[0]?.max ?? 0),
        meanIntervalMs: blockCount > 0 ? (windowS * 1000) / blockCount : NaN,
      },
      perSecond: summarize(watcher.perSecond(m0.wall, m1.wall)),
      acceptMs: summarize(finals.flatMap((f) => f.acceptMs)),
      commitLatencyMs: summarize(latencies),
      leader,
      cpu: cpuUse,
      crypto,
    };
  } finally {
    await Promise.all(threads.map((t) => t.worker.terminate()));
    unregister();
    await db.end().catch(() => undefined);
    await statsDb.end().catch(() => undefined);
    await cluster.stop();
  }
  if (options.profileDir) {
    // Replicas write their profiles when they exit, which cluster.stop() waited for.
    const profiles = await summarizeProfiles(options.profileDir);
    result.profiles = profiles.map((p) => ({ ...p, replica: pids.get(p.pid) ?? `pid ${p.pid}` }));
  }
  return result;
}
