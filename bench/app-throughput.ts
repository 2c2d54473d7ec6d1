import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { sleep } from '../src/time.js';
import { waitUntil } from '../src/wait.js';
import { AppCluster } from './app-cluster.js';
import { NAMES_APP, NAMES_SOURCE, NAMES_V1, NAMES_V1_PATH, appArgs } from './app-modules.js';
import { BlockWatcher, commitLatencies } from './block-watcher.js';
import type { Cleanups } from './cleanups.js';
import { replicasCpuMeter, type CpuUse } from './cpu.js';
import type { BenchEnv } from './env.js';
import { LoadThread, markThreads, sumCounters } from './load-thread.js';
import type { LoadKind, LoadWorkerData } from './load-worker.js';
import { Progress } from './progress.js';
import { summarize, type Summary } from './stats.js';
import type { ThroughputOptions } from './throughput.js';

/** The throughput section's options (bench/throughput.ts), on the lanes this section picks. */
export type AppThroughputOptions = Omit<ThroughputOptions, 'lane' | 'profileDir'>;

/** One lane's window under the saturating load: what the throughput section reports, per lane. */
export interface LaneThroughput {
  lane: string;
  /** "token 1.0.0 (built in)" or "names 1.0.0 from examples/name-registry, module loaded with --app". */
  app: string;
  kind: string;
  leader: string;
  presigned: number;
  windowS: number;
  committedPerSec: number;
  acceptedPerSec: number;
  errors: number;
  errorKinds: Record<string, number>;
  exhausted: boolean;
  backlogAtEnd: number;
  blocks: { count: number; meanTxs: number };
  acceptMs: Summary | null;
  commitLatencyMs: Summary | null;
  cpu: CpuUse;
}

export interface AppThroughputResult {
  options: AppThroughputOptions;
  /** The built-in token lane, measured first on the same cluster with the same load: the baseline. */
  token: LaneThroughput;
  /** The lane of the user's app module. */
  app: LaneThroughput;
}

async function committedCount(db: pg.Client, lane: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM baton_txs WHERE lane = $1 AND height IS NOT NULL',
    [lane],
  );
  return Number(rows[0]!.n);
}

async function pendingCount(db: pg.Client, lane: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM baton_txs WHERE lane = $1 AND height IS NULL',
    [lane],
  );
  return Number(rows[0]!.n);
}

/** The throughput section's window (bench/throughput.ts) on one lane of a running cluster. */
async function measureLane(
  env: BenchEnv,
  cleanups: Cleanups,
  cluster: AppCluster,
  o: AppThroughputOptions,
  lane: string,
  kind: LoadKind,
  app: string,
  progress: Progress,
): Promise<LaneThroughput> {
  const db = new pg.Client({ connectionString: cluster.databaseUrl });
  const statsDb = new pg.Client({ connectionString: cluster.databaseUrl });
  const threads: LoadThread[] = [];
  const unregister = cleanups.add(`${lane} load threads`, async () => {
    await Promise.all(threads.map((t) => t.worker.terminate()));
  });
  let watcher: BlockWatcher | null = null;
  try {
    await db.connect();
    await statsDb.connect();
    const perWorker = Math.ceil((o.presignRate * (o.warmupS + o.durationS + 1)) / o.workers);
    const runId = `${lane}-${Date.now().toString(36)}`;
    progress.update(
      `${lane}: pre-signing ${perWorker * o.workers} ${kind} transactions in ${o.workers} threads`,
    );
    for (let index = 0; index < o.workers; index++) {
      const workerData: LoadWorkerData = {
        index,
        urls: cluster.urls,
        lane,
        count: perWorker,
        concurrency: Math.ceil(o.concurrency / o.workers),
        keys: o.keysPerWorker,
        sampleEvery: o.sampleEvery,
        runId,
        kind,
      };
      threads.push(new LoadThread(new Worker(new URL('./load-worker.js', import.meta.url), { workerData })));
    }
    await Promise.all(threads.map((t) => t.next('ready', 300_000)));
    const leader = await cluster.waitLeader(lane);
    const cpu = replicasCpuMeter(cluster.local.replicas, leader, env.postgresPid);
    watcher = new BlockWatcher(statsDb, lane);
    watcher.start();
    for (const t of threads) t.send({ type: 'go' });
    progress.update(`${lane}: warming up for ${o.warmupS} s`);
    await sleep(o.warmupS * 1000);
    const mark = (id: number) => markThreads(threads, id, () => committedCount(db, lane));
    const m0 = await mark(0);
    cpu.start();
    progress.update(`${lane}: load for ${o.durationS} s`);
    await sleep(o.durationS * 1000);
    const m1 = await mark(1);
    const cpuUse = cpu.stop();
    const backlogAtEnd = await pendingCount(db, lane);
    for (const t of threads) t.send({ type: 'stop' });
    const finals = await Promise.all(threads.map((t) => t.next('final', 30_000)));
    const windowS = (m1.at - m0.at) / 1000;

    progress.update(`${lane}: waiting for the sampled transactions to commit`);
    const samples = finals.flatMap((f) => f.samples).filter(([, at]) => at >= m0.wall && at <= m1.wall);
    const latencies = await commitLatencies(db, watcher, samples);
    const { rows: blockRows } = await db.query<{ n: string; mean: string | null }>(
      `SELECT count(*) AS n, avg(cardinality(tx_ids)) AS mean
       FROM baton_blocks WHERE lane = $1 AND time_ms BETWEEN $2 AND $3`,
      [lane, m0.wall, m1.wall],
    );
    // The next lane's window starts on an idle cluster: this lane's backlog committed first.
    await waitUntil(async () => (await pendingCount(db, lane)) === 0, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: `lane ${lane}'s backlog to commit`,
    });
    const committed = m1.committed - m0.committed;
    const accepted = m1.counters.accepted - m0.counters.accepted;
    return {
      lane,
      app,
      kind,
      leader,
      presigned: perWorker * o.workers,
      windowS,
      committedPerSec: committed / windowS,
      acceptedPerSec: accepted / windowS,
      errors: m1.counters.errors - m0.counters.errors,
      errorKinds: sumCounters(finals.map((f) => f.counters)).errorKinds,
      exhausted: finals.some((f) => f.exhaustedAt !== null && f.exhaustedAt <= m1.wall),
      backlogAtEnd,
      blocks: { count: Number(blockRows[0]?.n ?? 0), meanTxs: Number(blockRows[0]?.mean ?? 0) },
      acceptMs: summarize(finals.flatMap((f) => f.acceptMs)),
      commitLatencyMs: summarize(latencies),
      cpu: cpuUse,
    };
  } finally {
    await watcher?.stop();
    await Promise.all(threads.map((t) => t.worker.terminate()));
    unregister();
    await db.end().catch(() => undefined);
    await statsDb.end().catch(() => undefined);
  }
}

/**
 * The throughput section's saturating load on a lane of a user's app module (names 1.0.0 of
 * examples/name-registry, `register` of unique names),
 * beside the same load on the built-in token lane of the same cluster in the same run.
 */
export async function appThroughputSection(
  env: BenchEnv,
  cleanups: Cleanups,
  o: AppThroughputOptions,
): Promise<AppThroughputResult> {
  const progress = new Progress('app-throughput');
  progress.update(`starting ${o.replicas} replicas with the names app module (${NAMES_SOURCE}/v1.js)`);
  const cluster = await AppCluster.start(env, cleanups, {
    name: 'app-throughput',
    replicas: o.replicas,
    leaseTtlMs: o.leaseTtlMs,
    lanes: ['main'],
    argsFor: () => appArgs([NAMES_V1_PATH]),
  });
  try {
    await cluster.waitLeader('main');
    await cluster.createLane(NAMES_APP, NAMES_APP, NAMES_V1);
    const token = await measureLane(
      env,
      cleanups,
      cluster,
      o,
      'main',
      'faucet',
      'token 1.0.0 (built in)',
      progress,
    );
    const app = await measureLane(
      env,
      cleanups,
      cluster,
      o,
      NAMES_APP,
      'register',
      `${NAMES_APP} ${NAMES_V1} from ${NAMES_SOURCE}, module loaded with --app`,
      progress,
    );
    progress.done(
      `names ${Math.round(app.committedPerSec)} committed tx/s, token ${Math.round(token.committedPerSec)} tx/s`,
    );
    return { options: o, token, app };
  } finally {
    await cluster.stop();
  }
}
