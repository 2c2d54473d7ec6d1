import type pg from 'pg';
import { sleep } from '../src/time.js';
import { waitUntil } from '../src/wait.js';
import { AppCluster } from './app-cluster.js';
import { NOTES_APP, appArgs, notesVersion, putIntent, writeNotesVersions } from './app-modules.js';
import type { Cleanups } from './cleanups.js';
import { OthersMeter } from './cpu.js';
import type { BenchEnv } from './env.js';
import { SteadyLoad, type LoadStats } from './load.js';
import { oldestArrivalSql, productionGapMs } from './production-gap.js';
import { Progress } from './progress.js';
import { summarize, type Summary } from './stats.js';

export interface UpgradeOptions {
  /** Upgrades on the cluster whose replicas all run every version. */
  upgrades: number;
  /** Upgrades on the cluster whose leader lacks the new version (each one a planned handover). */
  handoverTrials: number;
  leaseTtlMs: number;
  /** The steady SDK load on the app lane, tx/s. */
  ratePerSec: number;
  /** Load before the first upgrade, and between upgrades, so ordinary blocks surround each switch. */
  settleMs: number;
}

/** One switch of the lane's app version, as its blocks record it. */
export interface UpgradeSwitch {
  from: string;
  to: string;
  /** Height of the block that carries `upgrade: to` (produced by the old version). */
  height: number;
  producer: string;
  /** Producer and term of the next block, the first of the new version. */
  nextProducer: string;
  termChanged: boolean;
  /** Block production gap across the switch, raw: the switch block's `time` → the next block's. */
  gapMs: number;
  /** The same, from the arrival of the next block's oldest transaction if that came later. */
  pendingGapMs: number;
  /** Admin POST sent → the switch block's `time`. */
  proposeToSwitchMs: number;
}

export interface UpgradeRun {
  /** Which replicas ran which versions, in words. */
  setup: string;
  switches: UpgradeSwitch[];
  /** Intervals between consecutive blocks of one term that are not across a switch, same run. */
  ordinary: Summary | null;
  ordinaryPending: Summary | null;
  blocks: number;
  /** Blocks whose version is not the one in force at their height (by the switches before them). */
  wrongVersion: number;
  /** Switch blocks whose target is not the version requested, or requested switches never made. */
  wrongSwitches: number;
  load: LoadStats;
  /** CPU used by processes outside the benchmark over the run, cores (skews every figure). */
  otherCpu: number;
}

export interface UpgradeResult {
  options: UpgradeOptions;
  lane: string;
  /** Every replica runs every version: the leader switches code between two of its own blocks. */
  inPlace: UpgradeRun;
  /** The leader runs only the active version: the switch is a planned handover to one that runs the new. */
  handover: UpgradeRun | null;
}

const LANE = 'notes';

interface BlockRow {
  height: number;
  term: number;
  producer: string;
  time: number;
  version: string | null;
  upgrade: string | null;
  firstRx: number | null;
}

async function laneBlocks(db: pg.Client): Promise<BlockRow[]> {
  const { rows } = await db.query<{
    height: string;
    term: string;
    producer: string;
    time_ms: string;
    version: string | null;
    upgrade: string | null;
    first_rx: string | null;
  }>(
    `SELECT b.height, b.term, b.producer, b.time_ms, b.version, b.upgrade,
            ${oldestArrivalSql('b.tx_ids')} AS first_rx
     FROM baton_blocks b WHERE b.lane = $1 ORDER BY b.height`,
    [LANE],
  );
  return rows.map((r) => ({
    height: Number(r.height),
    term: Number(r.term),
    producer: r.producer,
    time: Number(r.time_ms),
    version: r.version,
    upgrade: r.upgrade,
    firstRx: r.first_rx === null ? null : Number(r.first_rx),
  }));
}

/** Waits until the lane has the block switching to `to` and one block after it; returns the switch height. */
async function waitSwitched(db: pg.Client, to: string): Promise<number> {
  return waitUntil(
    async () => {
      const { rows } = await db.query<{ at: string | null; tip: string | null }>(
        `SELECT (SELECT max(height) FROM baton_blocks WHERE lane = $1 AND upgrade = $2) AS at,
                (SELECT height FROM baton_lanes WHERE lane = $1) AS tip`,
        [LANE, to],
      );
      const at = rows[0]?.at == null ? null : Number(rows[0].at);
      return at !== null && Number(rows[0]!.tip) > at ? at : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 10, message: `lane ${LANE} switched to ${to} and a block after it` },
  );
}

/** The chain's switches, ordinary intervals and version errors, given the versions asked for. */
function analyse(
  blocks: BlockRow[],
  requested: Array<{ to: string; at: number }>,
  window: { from: number; to: number },
): Omit<UpgradeRun, 'setup' | 'load' | 'otherCpu'> {
  const switches: UpgradeSwitch[] = [];
  const ordinary: number[] = [];
  const ordinaryPending: number[] = [];
  let expected = notesVersion(1);
  let wrongVersion = 0;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i]!;
    if (b.version !== expected) wrongVersion++;
    const prev = blocks[i - 1];
    const next = blocks[i + 1];
    if (b.upgrade !== null) {
      const asked = requested.find((r) => r.to === b.upgrade);
      if (next) {
        switches.push({
          from: b.version ?? 'none',
          to: b.upgrade,
          height: b.height,
          producer: b.producer,
          nextProducer: next.producer,
          termChanged: next.term !== b.term,
          gapMs: next.time - b.time,
          pendingGapMs: productionGapMs(b.time, next.time, next.firstRx),
          proposeToSwitchMs: asked ? b.time - asked.at : NaN,
        });
      }
      expected = b.upgrade;
    }
    if (
      prev &&
      prev.upgrade === null &&
      prev.term === b.term &&
      b.time >= window.from &&
      b.time <= window.to
    ) {
      ordinary.push(b.time - prev.time);
      ordinaryPending.push(productionGapMs(prev.time, b.time, b.firstRx));
    }
  }
  const made = blocks.filter((b) => b.upgrade !== null).map((b) => b.upgrade);
  const wrongSwitches =
    made.filter((to, i) => to !== requested[i]?.to).length + Math.max(0, requested.length - made.length);
  return {
    switches,
    ordinary: summarize(ordinary),
    ordinaryPending: summarize(ordinaryPending),
    blocks: blocks.length,
    wrongVersion,
    wrongSwitches,
  };
}

interface RunPlan {
  name: string;
  setup: string;
  trials: number;
  /** `baton node` arguments of each replica at start. */
  argsFor: (id: string) => string[];
  /** Before trial k (0-based; the lane runs version k + 1): puts the leader where the trial wants it. */
  before?: (cluster: AppCluster, k: number) => Promise<void>;
}

async function upgradeRun(
  env: BenchEnv,
  cleanups: Cleanups,
  o: UpgradeOptions,
  plan: RunPlan,
  progress: Progress,
): Promise<UpgradeRun> {
  progress.update(`${plan.name}: starting 3 replicas (${plan.setup})`);
  const cluster = await AppCluster.start(env, cleanups, {
    name: `upgrade-${plan.name}`,
    replicas: 3,
    leaseTtlMs: o.leaseTtlMs,
    lanes: [],
    argsFor: plan.argsFor,
  });
  const load = new SteadyLoad({
    urls: cluster.urls,
    lane: LANE,
    ratePerSec: o.ratePerSec,
    maxInFlight: o.ratePerSec * 3,
    keys: 50,
    intent: (seq) => putIntent(`k-${seq % 500}`, `note ${seq}`),
  });
  const stopLoad = cleanups.add(`upgrade ${plan.name} load`, () => void load.stop());
  const requested: Array<{ to: string; at: number }> = [];
  const window = { from: 0, to: Infinity };
  const others = new OthersMeter();
  try {
    try {
      await cluster.createLane(LANE, NOTES_APP, notesVersion(1));
      load.start();
      others.start();
      await sleep(o.settleMs);
      window.from = Date.now();
      for (let k = 0; k < plan.trials; k++) {
        await plan.before?.(cluster, k);
        const to = notesVersion(k + 2);
        progress.update(`${plan.name}: upgrade ${k + 1}/${plan.trials}, ${notesVersion(k + 1)} → ${to}`);
        const at = Date.now();
        const proposal = await cluster.admin<{ status: string }>('POST', `/v1/admin/lanes/${LANE}/upgrade`, {
          to,
        });
        if (proposal.status !== 'proposed') throw new Error(`upgrade to ${to}: ${JSON.stringify(proposal)}`);
        requested.push({ to, at });
        await waitSwitched(cluster.db, to);
        await sleep(o.settleMs);
      }
      window.to = Date.now();
    } finally {
      await load.stop();
      stopLoad();
    }
    const otherCpu = others.stop();
    const blocks = await laneBlocks(cluster.db);
    return { setup: plan.setup, ...analyse(blocks, requested, window), load: load.snapshot(), otherCpu };
  } finally {
    await cluster.stop();
  }
}

/**
 * App upgrades under a steady SDK load on a 3-replica cluster, each measured as the block
 * production gap across the switch beside the ordinary interval between blocks in the same run:
 * first with every replica running every version (the leader switches its own code), then with
 * a leader that lacks the new version (the switch is a planned handover).
 */
export async function upgradeSection(
  env: BenchEnv,
  cleanups: Cleanups,
  o: UpgradeOptions,
): Promise<UpgradeResult> {
  const progress = new Progress('upgrade');
  const modules = await writeNotesVersions(env, 'upgrade-apps', Math.max(o.upgrades, o.handoverTrials) + 1);

  const inPlace = await upgradeRun(
    env,
    cleanups,
    o,
    {
      name: 'in-place',
      setup: `every replica runs notes ${notesVersion(1)}..${notesVersion(o.upgrades + 1)}`,
      trials: o.upgrades,
      argsFor: () => appArgs(modules.slice(0, o.upgrades + 1)),
    },
    progress,
  );

  let handover: UpgradeRun | null = null;
  if (o.handoverTrials > 0) {
    const all = appArgs(modules.slice(0, o.handoverTrials + 1));
    handover = await upgradeRun(
      env,
      cleanups,
      o,
      {
        name: 'handover',
        setup: `r1 runs only the lane's active version and leads the lane at the switch; r2, r3 run notes ${notesVersion(1)}..${notesVersion(o.handoverTrials + 1)}`,
        trials: o.handoverTrials,
        argsFor: (id) => (id === 'r1' ? appArgs([modules[0]!]) : all),
        before: async (cluster, k) => {
          const r1 = cluster.local.replica('r1');
          // After a trial r1 lacks the lane's version (not ready): it restarts with that version only.
          if (k > 0) {
            progress.update(`handover: restarting r1 with notes ${notesVersion(k + 1)} only`);
            await cluster.restartWith(r1, appArgs([modules[k]!]));
          }
          // A restarted replica is given lanes once it has been ready for a moment (placement's
          // eligibility): until then the handover is refused as not_eligible, and tried again.
          await waitUntil(
            async () => {
              if ((await cluster.lane(LANE)).leader !== 'r1')
                await cluster.admin('POST', `/v1/admin/lanes/${LANE}/handover`, { to: 'r1' });
              return true;
            },
            { timeoutMs: 30_000, intervalMs: 200, message: `lane ${LANE} handed over to r1` },
          );
          // r1's own blocks under load before the switch, and placement left alone to settle.
          await sleep(o.settleMs);
          const leader = (await cluster.lane(LANE)).leader;
          if (leader !== 'r1')
            throw new Error(`r1 should lead lane ${LANE} before the upgrade, ${leader} does`);
        },
      },
      progress,
    );
  }
  const gaps = summarize(inPlace.switches.map((s) => s.pendingGapMs));
  progress.done(
    `${inPlace.switches.length} upgrades: gap p50 ${gaps?.p50 ?? '—'} ms, max ${gaps?.max ?? '—'} ms` +
      (handover ? `; handover case ${handover.switches.map((s) => `${s.pendingGapMs} ms`).join(', ')}` : ''),
  );
  return { options: o, lane: LANE, inPlace, handover };
}
