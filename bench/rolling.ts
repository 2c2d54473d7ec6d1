import { sleep } from '../src/time.js';
import type { Cleanups } from './cleanups.js';
import { BenchCluster } from './cluster.js';
import type { BenchEnv } from './env.js';
import { HaproxyProcess } from '../src/cluster/haproxy.js';
import { plainSender, SteadyLoad, type LoadStats } from './load.js';
import { Progress } from './progress.js';
import { summarize, type Summary } from './stats.js';

export interface RollingOptions {
  ratePerSec: number;
  leaseTtlMs: number;
  lane: string;
  /** Load before the first and after the last restart of each round, in seconds. */
  settleS: number;
}

export interface RollingRestart {
  replica: string;
  wasLeader: boolean;
  /** SIGTERM → exit (drain). */
  stopMs: number;
  /** start → /readyz 200. */
  readyMs: number;
}

export interface RollingRound {
  via: 'sdk' | 'haproxy';
  restarts: RollingRestart[];
  load: LoadStats;
  /** Heights of the lane when the round's first restart began and when the last was done. */
  fromHeight: number;
  toHeight: number;
}

export interface HandoverGap {
  via: 'sdk' | 'haproxy';
  height: number;
  oldTerm: number;
  newTerm: number;
  /** First block of the new term − last block of the old term, from their `time` fields. */
  gapMs: number;
}

export interface RollingResult {
  options: RollingOptions;
  rounds: RollingRound[];
  handovers: HandoverGap[];
  gap: Summary | null;
}

async function tipHeight(cluster: BenchCluster): Promise<number> {
  const db = await cluster.database();
  const { rows } = await db.query<{ h: string | null }>(
    'SELECT max(height) AS h FROM baton_blocks WHERE lane = $1',
    [cluster.options.lane],
  );
  return Number(rows[0]?.h ?? 0);
}

/** Restarts every replica in turn (stop → start → ready → steady), under whatever load runs. */
async function restartRound(
  cluster: BenchCluster,
  progress: Progress,
  label: string,
  proxy: HaproxyProcess | null,
): Promise<RollingRestart[]> {
  const restarts: RollingRestart[] = [];
  for (const replica of cluster.local.replicas) {
    const id = replica.options.id;
    const { leader } = await cluster.waitSteady();
    progress.update(`${label}: restarting ${id}${id === leader ? ' (leader)' : ''}`);
    const stopping = performance.now();
    await replica.stop(15_000);
    const stopMs = performance.now() - stopping;
    const readyMs = await cluster.restart(id);
    restarts.push({ replica: id, wasLeader: id === leader, stopMs, readyMs });
    // The next replica goes only once this one is back in rotation.
    if (proxy) {
      const by = Date.now() + 20_000;
      while ((await proxy.serverStates().catch(() => null))?.get(id) !== 'UP') {
        if (Date.now() > by) throw new Error(`haproxy does not see ${id} UP 20 s after its restart`);
        await sleep(20);
      }
    }
  }
  await cluster.waitSteady();
  return restarts;
}

/**
 * A 3-replica cluster under a steady load; every replica restarted in turn twice: once with the
 * load through the SDK (all endpoints), once with a plain client through HAProxy running the
 * shipped configuration. Counts client-visible failures and the block gap of each planned handover.
 */
export async function rollingSection(
  env: BenchEnv,
  cleanups: Cleanups,
  options: RollingOptions,
): Promise<RollingResult> {
  const progress = new Progress('rolling');
  progress.update('starting 3 replicas');
  const cluster = await BenchCluster.start(env, cleanups, {
    name: 'rolling',
    replicas: 3,
    leaseTtlMs: options.leaseTtlMs,
    lane: options.lane,
  });
  let proxy: HaproxyProcess | null = null;
  const unregisterProxy = cleanups.add('haproxy', () => proxy?.stop());
  const rounds: RollingRound[] = [];
  try {
    await cluster.waitLeader(); // a fresh lane has no block until the load starts
    // (a) The SDK with every endpoint.
    const sdk = new SteadyLoad({
      urls: cluster.urls,
      lane: options.lane,
      ratePerSec: options.ratePerSec,
      maxInFlight: Math.max(100, options.ratePerSec * 3),
      keys: 500,
    });
    const stopSdk = cleanups.add('rolling SDK load', () => void sdk.stop());
    try {
      sdk.start();
      await sleep(options.settleS * 1000);
      const fromHeight = await tipHeight(cluster);
      const restarts = await restartRound(cluster, progress, 'SDK round', null);
      const toHeight = await tipHeight(cluster);
      await sleep(options.settleS * 1000);
      const load = await sdk.stop();
      rounds.push({ via: 'sdk', restarts, load, fromHeight, toHeight });
      progress.update(`SDK round: ${load.accepted} accepted, ${load.failed} failed, ${load.skipped} skipped`);
    } finally {
      await sdk.stop();
      stopSdk();
    }
    // (b) A plain client through HAProxy.
    progress.update('starting haproxy (deploy/haproxy/haproxy.cfg)');
    proxy = await HaproxyProcess.start(
      cluster.local.replicas.map((r) => ({ name: r.options.id, port: r.options.port })),
    );
    const plain = new SteadyLoad({
      urls: [proxy.url],
      lane: options.lane,
      ratePerSec: options.ratePerSec,
      maxInFlight: Math.max(100, options.ratePerSec * 3),
      keys: 500,
      send: plainSender(proxy.url, options.lane),
    });
    const stopPlain = cleanups.add('rolling HAProxy load', () => void plain.stop());
    try {
      plain.start();
      await sleep(options.settleS * 1000);
      const fromHeight = await tipHeight(cluster);
      const restarts = await restartRound(cluster, progress, 'HAProxy round', proxy);
      const toHeight = await tipHeight(cluster);
      await sleep(options.settleS * 1000);
      const load = await plain.stop();
      rounds.push({ via: 'haproxy', restarts, load, fromHeight, toHeight });
      progress.update(
        `HAProxy round: ${load.accepted} accepted, ${load.failed} failed, ${load.skipped} skipped`,
      );
    } finally {
      await plain.stop();
      stopPlain();
    }
    // Planned handovers: every term change inside a round's restarts.
    const blocks = await cluster.allBlocks(cluster.urls[0]!);
    const handovers: HandoverGap[] = [];
    for (let i = 1; i < blocks.length; i++) {
      const prev = blocks[i - 1]!;
      const b = blocks[i]!;
      if (b.term === prev.term) continue;
      const round = rounds.find((r) => b.height > r.fromHeight && b.height <= r.toHeight);
      if (!round) continue;
      handovers.push({
        via: round.via,
        height: b.height,
        oldTerm: prev.term,
        newTerm: b.term,
        gapMs: Date.parse(b.time) - Date.parse(prev.time),
      });
    }
    const gap = summarize(handovers.map((h) => h.gapMs));
    progress.done(
      `${rounds.length} rounds, ${handovers.length} handovers, gap p50 ${gap?.p50 ?? '—'} ms, max ${gap?.max ?? '—'} ms`,
    );
    return { options, rounds, handovers, gap };
  } finally {
    await proxy?.stop();
    unregisterProxy();
    await cluster.stop();
  }
}
