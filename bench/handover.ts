import pg from 'pg';
import { LocalCluster } from '../src/cluster/local.js';
import { sleep } from '../src/time.js';
import { waitUntil } from '../src/wait.js';
import type { Cleanups } from './cleanups.js';
import type { BenchEnv } from './env.js';
import { SteadyLoad, type LoadStats } from './load.js';
import { note } from './progress.js';
import { oldestArrivalSql, productionGapMs } from './production-gap.js';
import { summarize, type Summary } from './stats.js';

export interface HandoverOptions {
  trials: number;
  leaseTtlMs: number;
  /** Transactions per second on each lane, so every lane produces blocks all the time. */
  ratePerLane: number;
}

export interface PlannedGaps {
  /** Block-production gaps while a transaction was waiting (see `transitions`), ms. */
  gaps: Summary | null;
  /** Raw gaps between block times (last block of the old term → first block of the new one), ms. */
  rawGaps: Summary | null;
  moves: number;
}

export interface HandoverResult extends HandoverOptions {
  lanes: string[];
  /** Intervals between consecutive blocks of the same term on the same lanes: the workload's own rhythm. */
  ordinaryIntervals: Summary | null;
  /** The same intervals counted only while a transaction was waiting, as the planned gaps are. */
  ordinaryPendingIntervals: Summary | null;
  /** One operator handover before the measured trials, while the replicas warm up: reported apart. */
  warmup: PlannedGaps;
  handover: PlannedGaps;
  priority: PlannedGaps;
  join: PlannedGaps;
  load: LoadStats;
}

const LANES = ['main', 'b', 'c', 'd'];

interface Transition {
  lane: string;
  /** Wall time of the new term's first block. */
  at: number;
  gapMs: number;
  /** The part of the gap in which the lane had a transaction waiting (see `transitions`). */
  pendingGapMs: number;
}

/**
 * Every change of term in the lanes' chains, with the production gap around it, and the
 * ordinary intervals between blocks of one term (what a gap would be without a move), each
 * both raw and as a production gap (`productionGapMs`).
 */
async function transitions(
  db: pg.Client,
): Promise<{ moves: Transition[]; ordinary: number[]; ordinaryPending: number[] }> {
  const { rows } = await db.query<{ lane: string; term: string; time_ms: string; first_rx: string | null }>(
    `SELECT b.lane, b.term, b.time_ms,
            ${oldestArrivalSql('b.tx_ids')} AS first_rx
     FROM baton_blocks b WHERE b.lane = ANY($1::text[]) ORDER BY b.lane, b.height`,
    [LANES],
  );
  const moves: Transition[] = [];
  const ordinary: number[] = [];
  const ordinaryPending: number[] = [];
  for (let i = 1; i < rows.length; i++) {
    const prev = rows[i - 1]!;
    const cur = rows[i]!;
    if (cur.lane !== prev.lane) continue;
    const time = Number(cur.time_ms);
    const gapMs = time - Number(prev.time_ms);
    const pendingGapMs = productionGapMs(
      Number(prev.time_ms),
      time,
      cur.first_rx === null ? null : Number(cur.first_rx),
    );
    if (cur.term !== prev.term) moves.push({ lane: cur.lane, at: time, gapMs, pendingGapMs });
    else {
      ordinary.push(gapMs);
      ordinaryPending.push(pendingGapMs);
    }
  }
  return { moves, ordinary, ordinaryPending };
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  await waitUntil(check, { timeoutMs, intervalMs: 10, message: what });
}

/**
 * Planned leadership moves under load, each measured as the block-production gap of the lanes
 * that moved: operator handover, a priority change, and a replica (re)joining the cluster.
 */
export async function handoverSection(
  env: BenchEnv,
  cleanups: Cleanups,
  o: HandoverOptions,
): Promise<HandoverResult> {
  const databaseUrl = await env.database('handover');
  const cluster = new LocalCluster({
    dataDir: await env.scenarioDir('handover'),
    replicas: 3,
    basePort: 0,
    lanes: LANES,
    leaseTtlMs: o.leaseTtlMs,
    databaseUrl,
    entry: [env.cliPath],
  });
  const unregister = cleanups.add('cluster handover', () => cluster.kill());
  const db = new pg.Client({ connectionString: databaseUrl });
  let loads: SteadyLoad[] = [];
  type Kind = 'warmup' | 'handover' | 'priority' | 'join';
  const windows: Array<{ kind: Kind; from: number; to: number }> = [];
  try {
    await cluster.start();
    await cluster.waitReady(60_000);
    await db.connect();
    const urls = cluster.replicas.map((r) => r.url);
    loads = LANES.map(
      (lane) =>
        new SteadyLoad({ urls, lane, ratePerSec: o.ratePerLane, maxInFlight: o.ratePerLane * 3, keys: 50 }),
    );
    for (const load of loads) load.start();
    const admin = async (method: string, path: string, body: unknown): Promise<void> => {
      const res = await fetch(`${urls[0]}${path}`, {
        method,
        headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(20_000),
      });
      if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    };
    const leaders = async (): Promise<Map<string, string>> => {
      const { rows } = await db.query<{ lane: string; holder: string | null }>(
        'SELECT lane, holder FROM baton_leases WHERE expires_at > clock_timestamp()',
      );
      return new Map(rows.filter((r) => r.holder).map((r) => [r.lane, r.holder!]));
    };
    const settled = async (): Promise<void> => {
      await until(async () => (await leaders()).size === LANES.length, 30_000, 'every lane led');
      // Placement acts after a replica settled and two agreeing rounds: let it finish moving
      // before the next trial, so each trial's window holds only its own moves.
      await sleep(2_500);
    };
    await settled();

    const handOverMain = async (kind: Kind): Promise<void> => {
      const from = Date.now();
      await admin('POST', '/v1/admin/lanes/main/handover', {});
      windows.push({ kind, from, to: Date.now() + 2_000 });
      await settled();
    };
    note('[handover] warm-up: one operator handover, reported apart');
    await handOverMain('warmup');
    note(`[handover] ${o.trials} operator handovers of lane main`);
    for (let i = 0; i < o.trials; i++) await handOverMain('handover');

    note(`[handover] ${o.trials} priority changes (every lane moves to the new top replica)`);
    for (let i = 0; i < o.trials; i++) {
      const current = await leaders();
      const target = cluster.replicas.map((r) => r.options.id).find((id) => id !== current.get('main'))!;
      const from = Date.now();
      await admin('PUT', `/v1/admin/replicas/${target}/priority`, { priority: i + 1 });
      await until(
        async () => [...(await leaders()).values()].every((id) => id === target),
        30_000,
        `every lane on ${target}`,
      );
      windows.push({ kind: 'priority', from, to: Date.now() + 2_000 });
      await settled();
    }
    for (const r of cluster.replicas)
      await admin('PUT', `/v1/admin/replicas/${r.options.id}/priority`, { priority: 0 });
    await settled();

    note(`[handover] ${o.trials} joins (a replica restarts; placement gives it its share back)`);
    for (let i = 0; i < o.trials; i++) {
      const replica = cluster.replicas[i % cluster.replicas.length]!;
      await replica.stop();
      await until(
        async () =>
          (await leaders()).size === LANES.length &&
          ![...(await leaders()).values()].includes(replica.options.id),
        30_000,
        'lanes moved off the stopped replica',
      );
      const from = Date.now();
      replica.start();
      await until(
        async () => [...(await leaders()).values()].includes(replica.options.id),
        60_000,
        `${replica.options.id} leading again`,
      );
      windows.push({ kind: 'join', from, to: Date.now() + 2_000 });
      await settled();
    }
  } finally {
    for (const load of loads) await load.stop();
    unregister();
  }
  const { moves: all, ordinary, ordinaryPending } = await transitions(db).finally(() => db.end());
  await cluster.stop();
  const gaps = (kind: Kind): PlannedGaps => {
    const inWindows = all.filter((t) =>
      windows.some((w) => w.kind === kind && t.at >= w.from && t.at <= w.to),
    );
    return {
      gaps: summarize(inWindows.map((t) => t.pendingGapMs)),
      rawGaps: summarize(inWindows.map((t) => t.gapMs)),
      moves: inWindows.length,
    };
  };
  const load = loads.map((l) => l.snapshot());
  return {
    ...o,
    lanes: LANES,
    ordinaryIntervals: summarize(ordinary),
    ordinaryPendingIntervals: summarize(ordinaryPending),
    warmup: gaps('warmup'),
    handover: gaps('handover'),
    priority: gaps('priority'),
    join: gaps('join'),
    load: {
      submitted: load.reduce((s, l) => s + l.submitted, 0),
      accepted: load.reduce((s, l) => s + l.accepted, 0),
      failed: load.reduce((s, l) => s + l.failed, 0),
      skipped: load.reduce((s, l) => s + l.skipped, 0),
      failures: Object.assign({}, ...load.map((l) => l.failures)) as Record<string, number>,
    },
  };
}
