import type { Block } from '../src/ledger/block.js';
import { sleep } from '../src/time.js';
import type { BenchCluster, LogEvent } from './cluster.js';
import { OthersMeter } from './cpu.js';
import { Progress } from './progress.js';
import { summarize, type Summary } from './stats.js';

export interface FailoverOptions {
  trials: number;
  /** Give up on one trial's failover after this long (counted as a timeout). */
  timeoutMs: number;
}

/** One leader failure and what followed, times in ms after the signal was sent. */
export interface FailoverTrial {
  trial: number;
  victim: string;
  oldTerm: number;
  /** The replica's wall clock when the signal was sent (ms since the epoch). */
  signalledAt: number;
  newTerm?: number;
  newLeader?: string;
  /** Height of the first block of the new term. */
  newHeight?: number;
  /** First observation, through the blocks API of a surviving replica, of a new-term block. */
  failoverMs?: number;
  /** The new leader's own timestamp in that block (its wall clock when it built the block). */
  blockTimeMs?: number;
  /** When that block's commit became visible in the database (polled directly every ~2 ms). */
  dbVisibleMs?: number;
  /** CPU used meanwhile by processes outside the benchmark (cores): above ~0.2 the trial is skewed. */
  otherCpu?: number;
  /** Transactions in that first block (the backlog that piled up during the failover). */
  firstBlockTxs?: number;
  /** The new leader's "lane elected" log line (the elector granted it the term). */
  electedMs?: number;
  /** Its "leading lane" log line (the term is claimed in the ledger's fence). */
  leadingMs?: number;
  timedOut: boolean;
}

export interface CrashTrial extends FailoverTrial {
  restartMs?: number;
}

export interface HangTrial extends FailoverTrial {
  /** From SIGCONT until the woken ex-leader logged that it lost or stopped leading the lane. */
  stepDownMs?: number;
  stepDownReason?: string;
  /** From SIGCONT until the woken ex-leader's own GET /v1/cluster names another leader. */
  viewMs?: number;
  /** Its commits the database refused ("commit fenced") after it woke up. */
  fencedCommits: number;
  /** Blocks with a term older than the new term at heights above the new term's first block. */
  oldTermBlocksAfter: number;
  /** Heights where the term went down, and broken parent links, over the whole lane. */
  termRegressions: number;
  chainBreaks: number;
  scannedBlocks: number;
}

export interface FailoverSummary {
  failover: Summary | null;
  dbVisible: Summary | null;
  blockTime: Summary | null;
  elected: Summary | null;
  leading: Summary | null;
  timeouts: number;
  /** CPU of processes outside the benchmark during the trials, in cores. */
  otherCpu: Summary | null;
}

export interface CrashResult extends FailoverSummary {
  trials: CrashTrial[];
  restart: Summary | null;
}

export interface HangResult extends FailoverSummary {
  trials: HangTrial[];
  stepDown: Summary | null;
  view: Summary | null;
  oldTermBlocksAfter: number;
  termRegressions: number;
  chainBreaks: number;
  fencedCommits: number;
}

interface Observed {
  block: Block;
  failoverMs: number;
}

/**
 * Polls the newest blocks (every ~5 ms) on surviving replicas until a block of a term newer than
 * `oldTerm` by another producer than `victim` appears; null after `timeoutMs`.
 */
async function watchForNewTerm(
  cluster: BenchCluster,
  observers: string[],
  from: number,
  oldTerm: number,
  victim: string,
  t0: number,
  timeoutMs: number,
): Promise<Observed | null> {
  let cursor = from;
  let observer = 0;
  while (performance.now() - t0 < timeoutMs) {
    try {
      const blocks = await cluster.blocks(observers[observer % observers.length]!, cursor, 1000, 1_000);
      const now = performance.now();
      for (const block of blocks) {
        cursor = block.height + 1;
        if (block.term > oldTerm && block.producer !== victim) return { block, failoverMs: now - t0 };
      }
      if (blocks.length > 0) continue;
    } catch {
      observer++;
    }
    await sleep(5);
  }
  return null;
}

async function leadershipTimes(cluster: BenchCluster, trial: FailoverTrial, t0Wall: number): Promise<void> {
  const at = (e: LogEvent | undefined): number | undefined => (e ? e.time - t0Wall : undefined);
  const mine = (msg: string) => (e: LogEvent) =>
    e.replica === trial.newLeader && e.msg === msg && e.term === trial.newTerm;
  // Log lines travel through a pipe and may arrive after the block was seen: wait a little.
  trial.leadingMs = at(await cluster.waitForEvent(mine('leading lane'), 1_000));
  trial.electedMs = at(cluster.events.find(mine('lane elected')));
}

/** Signals the lane leader and measures until a block of a newer term by another replica appears. */
export async function failLeader(
  cluster: BenchCluster,
  signal: 'SIGKILL' | 'SIGSTOP' | 'SIGTERM',
  trialNo: number,
  timeoutMs: number,
): Promise<FailoverTrial> {
  const steady = await cluster.waitSteady();
  const victim = steady.leader;
  const observers = cluster.urls.filter((u) => u !== cluster.urlOf(victim));
  const others = new OthersMeter();
  others.start();
  const t0Wall = Date.now();
  const trial: FailoverTrial = {
    trial: trialNo,
    victim,
    oldTerm: steady.term,
    signalledAt: t0Wall,
    timedOut: false,
  };
  const t0 = performance.now();
  cluster.local.replica(victim).signal(signal);
  const [seen, dbVisibleMs] = await Promise.all([
    watchForNewTerm(cluster, observers, steady.height + 1, steady.term, victim, t0, timeoutMs),
    cluster.watchDatabase(steady.height + 1, steady.term, victim, t0, timeoutMs).catch(() => undefined),
  ]);
  if (dbVisibleMs !== undefined) trial.dbVisibleMs = dbVisibleMs;
  trial.otherCpu = others.stop();
  if (!seen) {
    trial.timedOut = true;
    return trial;
  }
  trial.failoverMs = seen.failoverMs;
  trial.newTerm = seen.block.term;
  trial.newLeader = seen.block.producer;
  trial.newHeight = seen.block.height;
  trial.blockTimeMs = Date.parse(seen.block.time) - t0Wall;
  trial.firstBlockTxs = seen.block.txs.length;
  await leadershipTimes(cluster, trial, t0Wall);
  return trial;
}

export function summaryOf(trials: FailoverTrial[]): FailoverSummary {
  const pick = (f: (t: FailoverTrial) => number | undefined): number[] =>
    trials.map(f).filter((v): v is number => v !== undefined);
  return {
    failover: summarize(pick((t) => t.failoverMs)),
    dbVisible: summarize(pick((t) => t.dbVisibleMs)),
    blockTime: summarize(pick((t) => t.blockTimeMs)),
    elected: summarize(pick((t) => t.electedMs)),
    leading: summarize(pick((t) => t.leadingMs)),
    timeouts: trials.filter((t) => t.timedOut).length,
    otherCpu: summarize(pick((t) => t.otherCpu)),
  };
}

export const ms = (v: number | undefined): string => (v === undefined ? '—' : `${Math.round(v)} ms`);

/** SIGKILL the leader `trials` times; restart the victim (same id and port) after each. */
export async function crashSection(cluster: BenchCluster, options: FailoverOptions): Promise<CrashResult> {
  const progress = new Progress('crash');
  const trials: CrashTrial[] = [];
  for (let i = 1; i <= options.trials; i++) {
    progress.update(`trial ${i}/${options.trials}: waiting for a steady leader`);
    const trial: CrashTrial = await failLeader(cluster, 'SIGKILL', i, options.timeoutMs);
    trials.push(trial);
    progress.update(
      `trial ${i}/${options.trials}: killed ${trial.victim} (term ${trial.oldTerm}) → ` +
        `${trial.newLeader ?? '?'} term ${trial.newTerm ?? '?'} in ${ms(trial.failoverMs)}; restarting ${trial.victim}`,
    );
    trial.restartMs = await cluster.restart(trial.victim);
  }
  const summary = summaryOf(trials);
  progress.done(
    `${options.trials} trials, p50 ${ms(summary.failover?.p50)}, max ${ms(summary.failover?.max)}`,
  );
  return {
    ...summary,
    trials,
    restart: summarize(trials.map((t) => t.restartMs).filter((v): v is number => v !== undefined)),
  };
}

/** Checks the whole lane: heights consecutive, parent links, terms never going down. */
function scanLane(blocks: Block[], newTerm: number, firstNewHeight: number) {
  let termRegressions = 0;
  let chainBreaks = 0;
  let oldTermBlocksAfter = 0;
  blocks.forEach((b, i) => {
    const prev = blocks[i - 1];
    if (prev && (b.height !== prev.height + 1 || b.parentHash !== prev.hash)) chainBreaks++;
    if (prev && b.term < prev.term) termRegressions++;
    if (b.height > firstNewHeight && b.term < newTerm) oldTermBlocksAfter++;
  });
  return { termRegressions, chainBreaks, oldTermBlocksAfter };
}

/** SIGSTOP the leader; after the takeover, SIGCONT it and check that it never commits again. */
export async function hangSection(cluster: BenchCluster, options: FailoverOptions): Promise<HangResult> {
  const progress = new Progress('hang');
  const trials: HangTrial[] = [];
  for (let i = 1; i <= options.trials; i++) {
    progress.update(`trial ${i}/${options.trials}: waiting for a steady leader`);
    const base = await failLeader(cluster, 'SIGSTOP', i, options.timeoutMs);
    const trial: HangTrial = {
      ...base,
      fencedCommits: 0,
      oldTermBlocksAfter: 0,
      termRegressions: 0,
      chainBreaks: 0,
      scannedBlocks: 0,
    };
    trials.push(trial);
    const victim = cluster.local.replica(trial.victim);
    progress.update(
      `trial ${i}/${options.trials}: stopped ${trial.victim} → ${trial.newLeader ?? '?'} in ${ms(trial.failoverMs)}; resuming it`,
    );
    const resumedWall = Date.now();
    victim.signal('SIGCONT');
    const stepDown = await cluster.waitForEvent(
      (e) =>
        e.replica === trial.victim &&
        e.term === trial.oldTerm &&
        (e.msg === 'lane lost' || e.msg === 'stopped leading lane'),
      10_000,
    );
    if (stepDown) trial.stepDownMs = Math.max(0, stepDown.time - resumedWall);
    const lost = await cluster.waitForEvent(
      (e) => e.replica === trial.victim && e.term === trial.oldTerm && e.msg === 'lane lost',
      1_000,
    );
    if (lost?.reason !== undefined) trial.stepDownReason = lost.reason;
    const viewBy = Date.now() + 10_000;
    while (trial.viewMs === undefined && Date.now() < viewBy) {
      const lane = await cluster.laneFrom(victim.url).catch(() => null);
      if (lane?.leader && lane.leader !== trial.victim) trial.viewMs = Date.now() - resumedWall;
      else await sleep(5);
    }
    const readyBy = Date.now() + 15_000;
    while (!(await cluster.probe.ready(victim.url)) && Date.now() < readyBy) await sleep(20);
    // Give a stale commit that was in flight when the process froze every chance to land.
    await sleep(500);
    if (trial.newTerm !== undefined) {
      const survivor = cluster.urls.find((u) => u !== victim.url)!;
      const blocks = await cluster.allBlocks(survivor);
      const firstNew = blocks.find((b) => b.term === trial.newTerm);
      Object.assign(trial, scanLane(blocks, trial.newTerm, firstNew?.height ?? Infinity));
      trial.scannedBlocks = blocks.length;
    }
    trial.fencedCommits = cluster.events.filter(
      (e) =>
        e.replica === trial.victim && e.msg === 'commit fenced: a newer term exists' && e.time >= resumedWall,
    ).length;
  }
  const summary = summaryOf(trials);
  const total = (f: (t: HangTrial) => number): number => trials.reduce((s, t) => s + f(t), 0);
  progress.done(
    `${options.trials} trials, p50 ${ms(summary.failover?.p50)}, max ${ms(summary.failover?.max)}`,
  );
  return {
    ...summary,
    trials,
    stepDown: summarize(trials.map((t) => t.stepDownMs).filter((v): v is number => v !== undefined)),
    view: summarize(trials.map((t) => t.viewMs).filter((v): v is number => v !== undefined)),
    oldTermBlocksAfter: total((t) => t.oldTermBlocksAfter),
    termRegressions: total((t) => t.termRegressions),
    chainBreaks: total((t) => t.chainBreaks),
    fencedCommits: total((t) => t.fencedCommits),
  };
}
