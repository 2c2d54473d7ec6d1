import type { BenchCluster } from './cluster.js';
import {
  failLeader,
  ms,
  summaryOf,
  type FailoverOptions,
  type FailoverSummary,
  type FailoverTrial,
} from './failover.js';
import type { LoadStats, SteadyLoad } from './load.js';
import { Progress } from './progress.js';
import { oldestArrivalMs, productionGapMs } from './production-gap.js';
import { summarize, type Summary } from './stats.js';

export interface GracefulTrial extends FailoverTrial {
  /** Block production gap (`productionGapMs`) before the first block of the new term. */
  gapMs?: number;
  /** First block of the new term − last block below it, by their `time` fields. */
  rawGapMs?: number;
  /** Term of that last block (the old term, unless an intermediate term produced nothing). */
  lastOldTerm?: number;
  /** SIGTERM → the old leader's exit (its drain). */
  exitMs?: number;
  restartMs?: number;
}

export interface GracefulResult extends FailoverSummary {
  trials: GracefulTrial[];
  gap: Summary | null;
  rawGap: Summary | null;
  exit: Summary | null;
  restart: Summary | null;
  /** Submissions of the steady load answered between the first SIGTERM and the last restart. */
  load: LoadStats;
}

const diff = (a: LoadStats, b: LoadStats): LoadStats => {
  const failures: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.failures)) {
    const d = v - (a.failures[k] ?? 0);
    if (d > 0) failures[k] = d;
  }
  return {
    submitted: b.submitted - a.submitted,
    accepted: b.accepted - a.accepted,
    failed: b.failed - a.failed,
    skipped: b.skipped - a.skipped,
    failures,
  };
};

/** The block production gap of one handover, read from a replica that kept running. */
async function gapOf(cluster: BenchCluster, trial: GracefulTrial): Promise<void> {
  if (trial.newHeight === undefined || trial.newHeight < 2) return;
  const survivor = cluster.urls.find((u) => u !== cluster.urlOf(trial.victim))!;
  const [last, first] = await cluster.blocks(survivor, trial.newHeight - 1, 2);
  if (!last || !first || first.height !== trial.newHeight) return;
  const db = await cluster.database();
  trial.rawGapMs = Date.parse(first.time) - Date.parse(last.time);
  trial.gapMs = productionGapMs(
    Date.parse(last.time),
    Date.parse(first.time),
    await oldestArrivalMs(db, first.txs),
  );
  trial.lastOldTerm = last.term;
}

/**
 * SIGTERM the lane leader `trials` times under the light load: it hands the lane over, drains and
 * exits; it is restarted (same id and port) after each trial. The figure is the block production
 * gap, last block of the old term → first block of the new one.
 */
export async function gracefulSection(
  cluster: BenchCluster,
  load: SteadyLoad,
  options: FailoverOptions,
): Promise<GracefulResult> {
  const progress = new Progress('graceful');
  const trials: GracefulTrial[] = [];
  const before = load.snapshot();
  for (let i = 1; i <= options.trials; i++) {
    progress.update(`trial ${i}/${options.trials}: waiting for a steady leader`);
    const trial: GracefulTrial = await failLeader(cluster, 'SIGTERM', i, options.timeoutMs);
    trials.push(trial);
    await gapOf(cluster, trial);
    progress.update(
      `trial ${i}/${options.trials}: SIGTERM ${trial.victim} (term ${trial.oldTerm}) → ` +
        `${trial.newLeader ?? '?'} term ${trial.newTerm ?? '?'}, gap ${ms(trial.gapMs)}; restarting ${trial.victim}`,
    );
    await cluster.local.replica(trial.victim).waitExit();
    const exit = cluster.exits.filter((e) => e.id === trial.victim).at(-1);
    if (exit && exit.time >= trial.signalledAt) trial.exitMs = exit.time - trial.signalledAt;
    trial.restartMs = await cluster.restart(trial.victim);
  }
  const summary = summaryOf(trials);
  const pick = (f: (t: GracefulTrial) => number | undefined): number[] =>
    trials.map(f).filter((v): v is number => v !== undefined);
  const gap = summarize(pick((t) => t.gapMs));
  progress.done(`${options.trials} trials, gap p50 ${ms(gap?.p50)}, max ${ms(gap?.max)}`);
  return {
    ...summary,
    trials,
    gap,
    rawGap: summarize(pick((t) => t.rawGapMs)),
    exit: summarize(pick((t) => t.exitMs)),
    restart: summarize(pick((t) => t.restartMs)),
    load: diff(before, load.snapshot()),
  };
}
