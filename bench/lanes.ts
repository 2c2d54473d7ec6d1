import pg from 'pg';
import { LocalCluster } from '../src/cluster/local.js';
import { sleep } from '../src/time.js';
import { waitUntil } from '../src/wait.js';
import type { Cleanups } from './cleanups.js';
import type { BenchEnv } from './env.js';
import { note } from './progress.js';
import { summarize, type Summary } from './stats.js';

export interface LanesOptions {
  lanes: number;
  replicas: number;
  trials: number;
  leaseTtlMs: number;
  /** Window over which lease queries are counted, seconds. */
  windowS: number;
}

export interface LeaseQueryRates {
  lanes: number;
  /** Per replica: lease queries per second by kind over the window. */
  perReplica: Array<{ id: string; leads: number; acquire: number; renew: number; resign: number }>;
}

export interface LanesResult extends LanesOptions {
  /** From spawning the replicas until every one is ready. */
  readyMs: number;
  /** From spawning the replicas until every lane has a leader. */
  electedMs: number;
  /** From spawning the replicas until each leads ⌊L/n⌋ or ⌈L/n⌉ lanes. */
  spreadMs: number;
  /** Lease queries with `lanes` lanes, and with a single lane (the baseline) measured the same way. */
  rates: LeaseQueryRates;
  baselineRates: LeaseQueryRates;
  /** Per lane of a SIGKILLed replica: time from the kill until a new leader claimed its term. */
  takeoverPerLane: Summary | null;
  /** Per trial: time until the last lane of the killed replica had a new leader. */
  takeoverAllLanes: Summary | null;
  lanesPerTrial: number[];
}

const laneName = (i: number): string => `lane${String(i).padStart(4, '0')}`;

async function leadCounts(db: pg.Client): Promise<Map<string, string[]>> {
  const { rows } = await db.query<{ holder: string; lane: string }>(
    `SELECT l.holder, l.lane FROM baton_leases l
     WHERE l.expires_at > clock_timestamp()
       AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.holder_pid AND a.backend_start = l.holder_started)`,
  );
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.holder, [...(out.get(r.holder) ?? []), r.lane]);
  return out;
}

function balanced(counts: Map<string, string[]>, lanes: number, replicas: number): boolean {
  const led = [...counts.values()].reduce((s, l) => s + l.length, 0);
  const low = Math.floor(lanes / replicas);
  const high = Math.ceil(lanes / replicas);
  return (
    led === lanes &&
    counts.size === replicas &&
    [...counts.values()].every((l) => l.length >= low && l.length <= high)
  );
}

function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  return waitUntil(check, { timeoutMs, intervalMs: 5, message: what });
}

/** Elector query counters of each replica, from /metrics. */
async function electorCounters(cluster: LocalCluster): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  for (const r of cluster.replicas) {
    const text = await (await fetch(`${r.url}/metrics`)).text();
    const counts: Record<string, number> = {};
    for (const m of text.matchAll(/^baton_elector_queries_total\{[^}]*kind="(\w+)"\} (\d+)$/gm))
      counts[m[1]!] = Number(m[2]);
    out.set(r.options.id, counts);
  }
  return out;
}

async function measureRates(
  cluster: LocalCluster,
  db: pg.Client,
  lanes: number,
  windowS: number,
): Promise<LeaseQueryRates> {
  const before = await electorCounters(cluster);
  const started = performance.now();
  await sleep(windowS * 1000);
  const after = await electorCounters(cluster);
  const seconds = (performance.now() - started) / 1000;
  const counts = await leadCounts(db);
  const rate = (id: string, kind: string): number =>
    ((after.get(id)?.[kind] ?? 0) - (before.get(id)?.[kind] ?? 0)) / seconds;
  return {
    lanes,
    perReplica: [...before.keys()].map((id) => ({
      id,
      leads: counts.get(id)?.length ?? 0,
      acquire: rate(id, 'acquire'),
      renew: rate(id, 'renew'),
      resign: rate(id, 'resign'),
    })),
  };
}

async function startCluster(
  env: BenchEnv,
  cleanups: Cleanups,
  name: string,
  lanes: string[],
  o: LanesOptions,
) {
  const databaseUrl = await env.database(name);
  const cluster = new LocalCluster({
    dataDir: await env.scenarioDir(name),
    replicas: o.replicas,
    basePort: 0,
    lanes,
    leaseTtlMs: o.leaseTtlMs,
    databaseUrl,
    entry: [env.cliPath],
  });
  const unregister = cleanups.add(`cluster ${name}`, () => cluster.kill());
  const db = new pg.Client({ connectionString: databaseUrl });
  const started = performance.now();
  await cluster.start();
  await cluster.waitReady(120_000);
  const readyMs = performance.now() - started;
  await db.connect();
  const stop = async (): Promise<void> => {
    await db.end().catch(() => undefined);
    await cluster.stop();
    unregister();
  };
  return { cluster, db, started, readyMs, stop };
}

/**
 * Many lanes over a few replicas: how long leadership takes to spread at start, what lease
 * upkeep costs per replica (beside a one-lane cluster), and how fast every lane of a SIGKILLed
 * replica gets a new leader.
 */
export async function lanesSection(env: BenchEnv, cleanups: Cleanups, o: LanesOptions): Promise<LanesResult> {
  const names = Array.from({ length: o.lanes }, (_, i) => laneName(i));
  note(`[lanes] baseline: lease queries of a 1-lane cluster of ${o.replicas} over ${o.windowS} s`);
  const base = await startCluster(env, cleanups, 'lanes-baseline', ['main'], o);
  let baselineRates: LeaseQueryRates;
  try {
    await until(
      async () => (balanced(await leadCounts(base.db), 1, 1) ? true : undefined),
      30_000,
      'a leader',
    );
    baselineRates = await measureRates(base.cluster, base.db, 1, o.windowS);
  } finally {
    await base.stop();
  }

  note(`[lanes] starting ${o.replicas} replicas with ${o.lanes} lanes`);
  const run = await startCluster(env, cleanups, 'lanes', names, o);
  try {
    const { cluster, db, started } = run;
    const electedMs = await until(
      async () => {
        const counts = await leadCounts(db);
        const led = [...counts.values()].reduce((s, l) => s + l.length, 0);
        return led === o.lanes ? performance.now() - started : undefined;
      },
      60_000,
      'every lane to have a leader',
    );
    const spreadMs = await until(
      async () =>
        balanced(await leadCounts(db), o.lanes, o.replicas) ? performance.now() - started : undefined,
      120_000,
      'leadership to spread evenly',
    );
    note(
      `[lanes] elected in ${Math.round(electedMs)} ms, spread in ${Math.round(spreadMs)} ms; counting lease queries`,
    );
    const rates = await measureRates(cluster, db, o.lanes, o.windowS);

    const perLane: number[] = [];
    const allLanes: number[] = [];
    const lanesPerTrial: number[] = [];
    for (let trial = 0; trial < o.trials; trial++) {
      const victim = cluster.replicas[trial % cluster.replicas.length]!;
      const id = victim.options.id;
      const { rows } = await db.query<{ lane: string; term: string }>(
        `SELECT b.lane, b.term FROM baton_lanes b JOIN baton_leases l USING (lane) WHERE l.holder = $1`,
        [id],
      );
      const oldTerms = new Map(rows.map((r) => [r.lane, Number(r.term)]));
      const lanes = [...oldTerms.keys()];
      const killedAt = performance.now();
      victim.signal('SIGKILL');
      const claimedAt = new Map<string, number>();
      await until(
        async () => {
          const { rows: now } = await db.query<{ lane: string; term: string }>(
            'SELECT lane, term FROM baton_lanes WHERE lane = ANY($1::text[])',
            [lanes],
          );
          const t = performance.now() - killedAt;
          for (const r of now)
            if (!claimedAt.has(r.lane) && Number(r.term) > oldTerms.get(r.lane)!) claimedAt.set(r.lane, t);
          return claimedAt.size === lanes.length ? true : undefined;
        },
        o.leaseTtlMs * 3 + 10_000,
        `every lane of ${id} to get a new leader`,
      );
      perLane.push(...claimedAt.values());
      allLanes.push(Math.max(...claimedAt.values()));
      lanesPerTrial.push(lanes.length);
      note(
        `[lanes] trial ${trial + 1}/${o.trials}: ${lanes.length} lanes of ${id} taken over, last after ${Math.round(Math.max(...claimedAt.values()))} ms`,
      );
      await victim.waitExit();
      victim.start();
      await until(
        async () => (balanced(await leadCounts(db), o.lanes, o.replicas) ? true : undefined),
        120_000,
        'leadership to spread again after the restart',
      );
    }
    return {
      ...o,
      readyMs: run.readyMs,
      electedMs,
      spreadMs,
      rates,
      baselineRates,
      takeoverPerLane: summarize(perLane),
      takeoverAllLanes: summarize(allLanes),
      lanesPerTrial,
    };
  } finally {
    await run.stop();
  }
}
