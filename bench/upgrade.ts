import type pg from 'pg';
import { sleep } from '../src/time.js';
import { waitUntil } from '../src/wait.js';
import { AppCluster } from './app-cluster.js';
import {
  NAMES_APP,
  NAMES_SOURCE,
  NAMES_V1,
  NAMES_V1_PATH,
  NAMES_V2,
  NAMES_V2_PATH,
  appArgs,
  registerIntent,
} from './app-modules.js';
import type { Cleanups } from './cleanups.js';
import { OthersMeter } from './cpu.js';
import type { BenchEnv } from './env.js';
import { SteadyLoad, type LoadStats } from './load.js';
import { oldestArrivalSql, productionGapMs } from './production-gap.js';
import { Progress } from './progress.js';
import { summarize, type Summary } from './stats.js';

export interface UpgradeOptions {
  /** Lanes upgraded 1.0.0 → 2.0.0, one after another, on the cluster whose replicas all run both versions. */
  upgrades: number;
  /** Upgrades whose leader lacks the new version (each a planned handover, on a cluster of its own). */
  handoverTrials: number;
  leaseTtlMs: number;
  /** The steady SDK load on the lane being upgraded, tx/s. */
  ratePerSec: number;
  /** Load on a lane before its upgrade (and before the first one, to warm up), so ordinary blocks precede each switch. */
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
  /** The lanes upgraded, one switch each. */
  lanes: string[];
  switches: UpgradeSwitch[];
  /** Intervals between consecutive blocks of one term and lane that are not across a switch, same run. */
  ordinary: Summary | null;
  ordinaryPending: Summary | null;
  blocks: number;
  /** Blocks of every lane whose version is not the one in force at their height (by the switches before them). */
  wrongVersion: number;
  /** Switch blocks whose target is not the version requested, or requested switches never made. */
  wrongSwitches: number;
  load: LoadStats;
  /** CPU used by processes outside the benchmark over the run, cores (skews every figure; mean over clusters). */
  otherCpu: number;
}

export interface UpgradeResult {
  options: UpgradeOptions;
  /** The app and its versions, in words ("names 1.0.0 → 2.0.0 from examples/name-registry"). */
  app: string;
  /** Every replica runs every version: the leader switches code between two of its own blocks. */
  inPlace: UpgradeRun;
  /** The leader runs only the active version: the switch is a planned handover to one that runs the new. */
  handover: UpgradeRun | null;
}

interface BlockRow {
  height: number;
  term: number;
  producer: string;
  time: number;
  version: string | null;
  upgrade: string | null;
  firstRx: number | null;
}

async function laneBlocks(db: pg.Client, lane: string): Promise<BlockRow[]> {
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
    [lane],
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
async function waitSwitched(db: pg.Client, lane: string, to: string): Promise<number> {
  return waitUntil(
    async () => {
      const { rows } = await db.query<{ at: string | null; tip: string | null }>(
        `SELECT (SELECT max(height) FROM baton_blocks WHERE lane = $1 AND upgrade = $2) AS at,
                (SELECT height FROM baton_lanes WHERE lane = $1) AS tip`,
        [lane, to],
      );
      const at = rows[0]?.at == null ? null : Number(rows[0].at);
      return at !== null && Number(rows[0]!.tip) > at ? at : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 10, message: `lane ${lane} switched to ${to} and a block after it` },
  );
}

/** What one lane's chain shows; the run's figures gather them over its lanes and clusters. */
interface LaneFigures {
  switches: UpgradeSwitch[];
  ordinary: number[];
  ordinaryPending: number[];
  blocks: number;
  wrongVersion: number;
  wrongSwitches: number;
}

/** One lane's switches, ordinary intervals and version errors, given the versions asked for. */
function analyse(
  blocks: BlockRow[],
  requested: Array<{ to: string; at: number }>,
  window: { from: number; to: number },
): LaneFigures {
  const switches: UpgradeSwitch[] = [];
  const ordinary: number[] = [];
  const ordinaryPending: number[] = [];
  let expected = NAMES_V1;
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
  return { switches, ordinary, ordinaryPending, blocks: blocks.length, wrongVersion, wrongSwitches };
}

/** One cluster of a run: its lanes' figures, the load on them and the CPU of other processes. */
interface ClusterFigures {
  lanes: LaneFigures[];
  load: LoadStats;
  otherCpu: number;
}

interface ClusterPlan {
  /** The cluster's scenario name (its database and directory). */
  name: string;
  /** Lanes of the app at 1.0.0, each upgraded to 2.0.0 in turn. */
  lanes: string[];
  /** `baton node` arguments of each replica. */
  argsFor: (id: string) => string[];
  /** Before a lane's upgrade, with the load already on it: puts the leader where the run wants it. */
  before?: (cluster: AppCluster, lane: string) => Promise<void>;
  /** The replica that must lead each lane when its upgrade is proposed, if one must. */
  leaderAtSwitch?: string;
}

/**
 * One cluster: the lanes created at 1.0.0, then one steady SDK load of `register`s moved from
 * lane to lane; on each, `settleMs` of load, the upgrade to 2.0.0, and its switch block and one
 * block after it. A lane's ordinary intervals are those while the load was on it (after the
 * first lane's warm-up).
 */
async function clusterRun(
  env: BenchEnv,
  cleanups: Cleanups,
  o: UpgradeOptions,
  plan: ClusterPlan,
  progress: Progress,
): Promise<ClusterFigures> {
  progress.update(`${plan.name}: starting 3 replicas`);
  const cluster = await AppCluster.start(env, cleanups, {
    name: plan.name,
    replicas: 3,
    leaseTtlMs: o.leaseTtlMs,
    lanes: [],
    argsFor: plan.argsFor,
  });
  const load = new SteadyLoad({
    urls: cluster.urls,
    lane: plan.lanes[0]!,
    ratePerSec: o.ratePerSec,
    maxInFlight: o.ratePerSec * 3,
    keys: 50,
    // Unique names (base 36, at most 32 characters), so that none is refused as taken.
    intent: (seq) => registerIntent(`s-${seq.toString(36)}`),
  });
  const stopLoad = cleanups.add(`upgrade ${plan.name} load`, () => void load.stop());
  const requested = new Map<string, { to: string; at: number }>();
  const windows = new Map<string, { from: number; to: number }>();
  const others = new OthersMeter();
  try {
    try {
      for (const lane of plan.lanes) await cluster.createLane(lane, NAMES_APP, NAMES_V1);
      load.start();
      others.start();
      await sleep(o.settleMs);
      for (const [k, lane] of plan.lanes.entries()) {
        load.moveTo(lane);
        const window = { from: Date.now(), to: Infinity };
        windows.set(lane, window);
        await plan.before?.(cluster, lane);
        await sleep(o.settleMs);
        if (plan.leaderAtSwitch) {
          const leader = (await cluster.lane(lane)).leader;
          if (leader !== plan.leaderAtSwitch)
            throw new Error(
              `${plan.leaderAtSwitch} should lead lane ${lane} before the upgrade, ${leader} does`,
            );
        }
        progress.update(
          `${plan.name}: lane ${lane} (${k + 1}/${plan.lanes.length}), ${NAMES_V1} → ${NAMES_V2}`,
        );
        const at = Date.now();
        const proposal = await cluster.admin<{ status: string }>(
          'POST',
          `/v1/admin/lanes/${encodeURIComponent(lane)}/upgrade`,
          { to: NAMES_V2 },
        );
        if (proposal.status !== 'proposed')
          throw new Error(`lane ${lane} upgrade to ${NAMES_V2}: ${JSON.stringify(proposal)}`);
        requested.set(lane, { to: NAMES_V2, at });
        await waitSwitched(cluster.db, lane, NAMES_V2);
        window.to = Date.now();
      }
    } finally {
      await load.stop();
      stopLoad();
    }
    const otherCpu = others.stop();
    const lanes: LaneFigures[] = [];
    for (const lane of plan.lanes) {
      const asked = requested.get(lane);
      const window = windows.get(lane) ?? { from: Infinity, to: Infinity };
      lanes.push(analyse(await laneBlocks(cluster.db, lane), asked ? [asked] : [], window));
    }
    return { lanes, load: load.snapshot(), otherCpu };
  } finally {
    await cluster.stop();
  }
}

/** A run's figures over the lanes of its clusters. */
function gather(setup: string, lanes: string[], clusters: ClusterFigures[]): UpgradeRun {
  const all = clusters.flatMap((c) => c.lanes);
  const failures: Record<string, number> = {};
  for (const c of clusters)
    for (const [kind, n] of Object.entries(c.load.failures)) failures[kind] = (failures[kind] ?? 0) + n;
  const sum = (f: (l: LoadStats) => number) => clusters.reduce((n, c) => n + f(c.load), 0);
  return {
    setup,
    lanes,
    switches: all.flatMap((l) => l.switches),
    ordinary: summarize(all.flatMap((l) => l.ordinary)),
    ordinaryPending: summarize(all.flatMap((l) => l.ordinaryPending)),
    blocks: all.reduce((n, l) => n + l.blocks, 0),
    wrongVersion: all.reduce((n, l) => n + l.wrongVersion, 0),
    wrongSwitches: all.reduce((n, l) => n + l.wrongSwitches, 0),
    load: {
      submitted: sum((l) => l.submitted),
      accepted: sum((l) => l.accepted),
      failed: sum((l) => l.failed),
      skipped: sum((l) => l.skipped),
      failures,
    },
    otherCpu: clusters.reduce((n, c) => n + c.otherCpu, 0) / Math.max(1, clusters.length),
  };
}

/**
 * App upgrades of the example names app (examples/name-registry, 1.0.0 → 2.0.0) under a steady
 * SDK load on a 3-replica cluster, each measured as the block production gap across the switch
 * beside the ordinary interval between blocks in the same run: first `upgrades` lanes, one after
 * another, with every replica running both versions (the leader switches its own code), then
 * with a leader that lacks 2.0.0 (the switch is a planned handover). After such a switch that
 * leader lacks the code of a lane it serves and is not ready again: each handover trial has a
 * cluster of its own.
 */
export async function upgradeSection(
  env: BenchEnv,
  cleanups: Cleanups,
  o: UpgradeOptions,
): Promise<UpgradeResult> {
  const progress = new Progress('upgrade');
  const both = appArgs([NAMES_V1_PATH, NAMES_V2_PATH]);
  const versions = `${NAMES_APP} ${NAMES_V1} and ${NAMES_V2}`;

  const lanes = Array.from({ length: o.upgrades }, (_, k) => `${NAMES_APP}-${k + 1}`);
  const inPlace = gather(`every replica runs ${versions}`, lanes, [
    await clusterRun(env, cleanups, o, { name: 'upgrade-in-place', lanes, argsFor: () => both }, progress),
  ]);

  let handover: UpgradeRun | null = null;
  if (o.handoverTrials > 0) {
    const trials: ClusterFigures[] = [];
    const handoverLanes: string[] = [];
    for (let t = 1; t <= o.handoverTrials; t++) {
      const lane = `${NAMES_APP}-h${t}`;
      handoverLanes.push(lane);
      trials.push(
        await clusterRun(
          env,
          cleanups,
          o,
          {
            name: `upgrade-handover-${t}`,
            lanes: [lane],
            argsFor: (id) => (id === 'r1' ? appArgs([NAMES_V1_PATH]) : both),
            // Placement gives a replica lanes once it has been ready for a moment: until then the
            // handover is refused as not_eligible, and tried again.
            before: async (cluster, name) => {
              await waitUntil(
                async () => {
                  if ((await cluster.lane(name)).leader !== 'r1')
                    await cluster.admin('POST', `/v1/admin/lanes/${encodeURIComponent(name)}/handover`, {
                      to: 'r1',
                    });
                  return true;
                },
                { timeoutMs: 30_000, intervalMs: 200, message: `lane ${name} handed over to r1` },
              );
            },
            leaderAtSwitch: 'r1',
          },
          progress,
        ),
      );
    }
    handover = gather(
      `r1 runs only ${NAMES_APP} ${NAMES_V1} and leads the lane at the switch; r2, r3 run ${versions}` +
        (o.handoverTrials > 1 ? `; a cluster per upgrade` : ''),
      handoverLanes,
      trials,
    );
  }
  const gaps = summarize(inPlace.switches.map((s) => s.pendingGapMs));
  progress.done(
    `${inPlace.switches.length} upgrades: gap p50 ${gaps?.p50 ?? '—'} ms, max ${gaps?.max ?? '—'} ms` +
      (handover ? `; handover case ${handover.switches.map((s) => `${s.pendingGapMs} ms`).join(', ')}` : ''),
  );
  return {
    options: o,
    app: `${NAMES_APP} ${NAMES_V1} → ${NAMES_V2} from ${NAMES_SOURCE}`,
    inPlace,
    handover,
  };
}
