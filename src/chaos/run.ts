import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ClusterView } from '../api/context.js';
import { sleep } from '../time.js';
import { check } from './checker.js';
import { FaultInjector, firedEvent, waitRecovered, type FaultEvent } from './faults.js';
import { History } from './history.js';
import { Random } from './random.js';
import { Schedule, type FaultKind } from './schedule.js';
import { StreamWatch } from './streams.js';
import type { AppIntent } from './app-intent.js';
import { attachTarget, possibleFaults, startLocalTarget, type AppLane, type OwnedTarget } from './target.js';
import { capViolations, type Violation } from './violations.js';
import { Workload } from './workload.js';
import { finalViews, settle } from './settle.js';
import { buildReport, writeReport, type ChaosReport, type LeaderSample } from './report.js';

export interface ChaosOptions {
  seed: number;
  durationMs: number;
  replicas: number;
  /** Token lanes of the local cluster. */
  lanes: string[];
  /** Users' app modules every replica of the local cluster loads (absolute paths or package names). */
  appModules?: string[];
  /** Lanes of those apps, created once the local cluster is up. */
  appLanes?: AppLane[];
  /** The intent the workload sends on the app lanes ("{n}" and "{client}" filled in); needed with `appLanes`. */
  appTx?: AppIntent;
  faults: FaultKind[];
  /** Mean quiet time between faults. */
  faultEveryMs: number;
  ratePerSec: number;
  clients: number;
  leaseTtlMs: number;
  outDir: string;
  /** Where a local cluster lives (default OUT/cluster). */
  dataDir?: string;
  /** Attach to a running cluster instead of starting one. */
  attach?: { urls: string[]; databaseUrl: string | null };
  /** Longest wait, after the workload stops, for everything acknowledged to commit and every reader to catch up. */
  settleTimeoutMs: number;
  /** Longest a fault may take to recover before the run reports the cluster stuck. */
  recoveryTimeoutMs: number;
  /** Keep the database files of a clean run (logs are always kept). */
  keepData: boolean;
  /** How replica processes run the CLI (default: as this process runs it). */
  entry?: string[];
}

export interface StatusLine {
  elapsedMs: number;
  durationMs: number;
  ops: { ok: number; failed: number; unknown: number };
  lanes: ClusterView['lanes'];
}

/** What a run tells the person watching it. */
export interface ChaosProgress {
  note(text: string): void;
  fault(event: FaultEvent, phase: 'start' | 'end'): void;
  status(line: StatusLine): void;
}

const STATUS_EVERY_MS = 5_000;
const SAMPLE_EVERY_MS = 250;

/** Runs one chaos experiment end to end; resolves with its report (violations empty when clean). */
export async function runChaos(
  options: ChaosOptions,
  progress: ChaosProgress,
  signal: AbortSignal,
): Promise<ChaosReport> {
  if (options.appLanes?.length && !options.appTx) throw new Error('app lanes need an intent to send (appTx)');
  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const rng = new Random(options.seed);
  // Times count from the moment the cluster is up and the workload starts.
  let t0 = Date.now();
  const now = (): number => Date.now() - t0;
  let target: OwnedTarget;
  let skipped: Array<{ kind: FaultKind; why: string }>;
  let kinds: FaultKind[];
  if (options.attach) {
    const attached = await attachTarget(options.attach.urls, options.attach.databaseUrl, now);
    target = attached.target;
    ({ kinds, skipped } = possibleFaults(options.faults, target, attached.why));
  } else {
    const dataDir = resolve(options.dataDir ?? join(outDir, 'cluster'));
    progress.note(`starting PostgreSQL and ${options.replicas} replicas in ${dataDir}`);
    target = await startLocalTarget({
      dataDir,
      replicas: options.replicas,
      lanes: options.lanes,
      leaseTtlMs: options.leaseTtlMs,
      ...(options.appModules ? { appModules: options.appModules } : {}),
      ...(options.appLanes ? { appLanes: options.appLanes } : {}),
      now,
      ...(options.entry ? { entry: options.entry } : {}),
    });
    ({ kinds, skipped } = possibleFaults(options.faults, target));
  }
  t0 = Date.now();
  const history = new History(t0, join(outDir, 'history.jsonl'));
  for (const s of skipped) progress.note(`skipping ${s.kind}: ${s.why}`);
  if (!target.databaseUrl)
    progress.note('no --database-url: the checker reads the ledger through the HTTP API only');

  const injector = new FaultInjector(target);
  const workload = new Workload({
    endpoints: target.endpoints,
    lanes: target.lanes,
    clients: options.clients,
    ratePerSec: options.ratePerSec,
    rng: rng.fork('workload'),
    history,
    ...(options.appLanes?.length && options.appTx
      ? { app: { lanes: options.appLanes.map((l) => l.lane), intent: options.appTx } }
      : {}),
  });
  const streams = new StreamWatch({
    endpoints: target.endpoints,
    lanes: target.lanes,
    perLane: 2,
    rng: rng.fork('streams'),
    history,
    height: async (lane) => (await target.view()).lanes.find((l) => l.lane === lane)?.height ?? 0,
  });
  const samples: LeaderSample[] = [];
  const faults: FaultEvent[] = [];
  const violations: Violation[] = [];
  const sampler = new AbortController();
  let sampling: Promise<void> = Promise.resolve();
  let clean = false;
  try {
    // The workload starts with the clock: the run's times count from here.
    await workload.start(signal);
    streams.start(signal);
    sampling = sampleLoop(
      target,
      samples,
      history,
      options,
      progress,
      AbortSignal.any([signal, sampler.signal]),
    );
    await waitRecovered(
      target,
      { timeoutMs: 30_000, heightsAtHeal: new Map(), expectProgress: true },
      signal,
    );

    if (kinds.length > 0) {
      const schedule = new Schedule(rng.fork('faults'), {
        kinds,
        lanes: target.lanes.length,
        leaseTtlMs: options.leaseTtlMs,
        meanEveryMs: options.faultEveryMs,
      });
      const end = options.durationMs;
      while (!signal.aborted) {
        const plan = schedule.next();
        // A fault starts only when it can be healed before the end of the run.
        if (now() + plan.gapMs + plan.holdMs + 1_000 > end) break;
        await sleep(plan.gapMs, signal);
        if (signal.aborted) break;
        progress.fault(firedEvent(plan, now()), 'start');
        const event = await injector.run(plan, signal);
        faults.push(event);
        const heights = new Map(
          (await target.view().catch(() => null))?.lanes.map((l) => [l.lane, l.height]) ?? [],
        );
        const ok = await waitRecovered(
          target,
          { timeoutMs: options.recoveryTimeoutMs, heightsAtHeal: heights, expectProgress: true },
          signal,
        );
        if (ok) event.recoveredAt = now();
        else if (!signal.aborted) {
          violations.push({
            kind: 'stuck',
            message: `fault ${event.index} (${event.kind}) healed at ${event.healedAt} ms, but the cluster did not recover within ${options.recoveryTimeoutMs} ms`,
            evidence: { fault: event.index, detail: event.detail },
          });
        }
        progress.fault(event, 'end');
        if (!ok) break; // a stuck cluster makes every later fault meaningless
      }
    }
    await sleep(options.durationMs - now(), signal);
    signal.throwIfAborted();

    progress.note(
      'workload stopped; waiting for everything acknowledged to commit and every reader to catch up',
    );
    await workload.stop();
    await settle(target, history, streams, options.settleTimeoutMs, signal);
    await streams.stop();
    sampler.abort();
    await sampling;
    await history.close();

    const { ledgers, replicas } = await finalViews(target, workload.accounts, signal);
    violations.push(...check({ ops: history.ops, streams: streams.records, ledgers, replicas }));
    const report = buildReport({
      options,
      startedAt: new Date(history.startedAt).toISOString(),
      endedAt: now(),
      kinds,
      skipped,
      faults,
      ops: history.ops,
      streams: streams.records,
      ledgers,
      samples,
      violations: capViolations(violations),
      dataDir: target.dataDir,
    });
    await writeReport(outDir, report);
    clean = report.violations.length === 0;
    return report;
  } finally {
    sampler.abort();
    injector.healAll();
    await workload.stop();
    await streams.stop();
    await sampling.catch(() => undefined);
    await history.close();
    await target.close(signal.aborted);
    if (clean && !options.keepData && target.dataDir) {
      await rm(join(target.dataDir, 'pg'), { recursive: true, force: true });
    }
  }
}

async function sampleLoop(
  target: OwnedTarget,
  samples: LeaderSample[],
  history: History,
  options: ChaosOptions,
  progress: ChaosProgress,
  signal: AbortSignal,
): Promise<void> {
  let lastStatus = 0;
  while (!signal.aborted) {
    const view = await target.view(signal).catch(() => null);
    const at = history.now();
    if (view) for (const l of view.lanes) samples.push({ at, lane: l.lane, leader: l.leader, term: l.term });
    if (at - lastStatus >= STATUS_EVERY_MS) {
      lastStatus = at;
      const { ok, failed, unknown } = history.counts();
      progress.status({
        elapsedMs: at,
        durationMs: options.durationMs,
        ops: { ok, failed, unknown },
        lanes: view?.lanes ?? [],
      });
    }
    await sleep(SAMPLE_EVERY_MS, signal);
  }
}
