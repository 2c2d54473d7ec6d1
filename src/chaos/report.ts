import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FaultEvent } from './faults.js';
import type { Op, OpKind, Outcome, StreamRecord } from './history.js';
import { isTokenLane } from './check-ledger.js';
import type { LedgerSnapshot } from './ledger.js';
import { FAULT_KINDS, type FaultKind } from './schedule.js';
import { buildTimeline, type LeaderSample, type Timeline } from './timeline.js';
import { timelineSvg } from './timeline-svg.js';
import { describeViolation, type Violation } from './violations.js';
import type { ChaosOptions } from './run.js';

export type { LeaderSample };

export interface ChaosReport {
  version: 1;
  seed: number;
  /** The command line that repeats this run's schedule and workload. */
  reproduce: string;
  startedAt: string;
  /** From the first operation to the end of the checks. */
  elapsedMs: number;
  verdict: 'clean' | 'violations';
  violations: Violation[];
  options: Omit<ChaosOptions, 'entry' | 'attach'> & { attach?: { urls: string[] } };
  faults: {
    enabled: FaultKind[];
    skipped: Array<{ kind: FaultKind; why: string }>;
    /** Faults that fired, per kind. */
    fired: Partial<Record<FaultKind, number>>;
    events: Array<Omit<FaultEvent, 'plan'> & { holdMs: number }>;
  };
  ops: {
    total: number;
    outcomes: Record<Outcome, number>;
    byKind: Partial<Record<OpKind, Record<Outcome, number>>>;
    /** Invocation to answer of ok operations, ms. */
    latencyMs: { p50: number; p99: number; max: number };
  };
  streams: Array<{ subscriber: string; lane: string; after: number; received: number; last: number }>;
  lanes: Array<{
    lane: string;
    /** The lane's app: the token model and balances are checked on token lanes only. */
    app: string;
    /** The lane's operations by outcome, and how many of them are in a block. */
    ops: Record<Outcome, number> & { committed: number };
    height: number;
    txs: number;
    terms: number;
    failovers: Timeline['lanes'][number]['failovers'];
    maxFailoverGapMs: number;
  }>;
  timeline: Timeline;
  /** Replica and PostgreSQL logs of a local cluster. */
  logs: string | null;
  /**
   * Not violations, but worth a look: lanes that went long without blocks across a change of
   * leader, and faults the cluster was slow to recover from (timings are noisy on shared CPUs).
   */
  warnings: string[];
}

export interface ReportInput {
  options: ChaosOptions;
  startedAt: string;
  endedAt: number;
  kinds: FaultKind[];
  skipped: Array<{ kind: FaultKind; why: string }>;
  faults: FaultEvent[];
  ops: readonly Op[];
  streams: readonly StreamRecord[];
  ledgers: readonly LedgerSnapshot[];
  samples: readonly LeaderSample[];
  violations: Violation[];
  dataDir: string | null;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function reproduceCommand(o: ChaosOptions): string {
  const parts = [
    'baton chaos',
    `--seed ${o.seed}`,
    `--duration ${Math.round(o.durationMs / 1_000)}s`,
    `--fault-every ${(o.faultEveryMs / 1_000).toString()}s`,
    `--rate ${o.ratePerSec}`,
    `--clients ${o.clients}`,
    `--lease-ttl ${o.leaseTtlMs}`,
  ];
  if (o.attach) parts.push(`--url ${o.attach.urls.join(',')}`);
  else parts.push(`--replicas ${o.replicas}`, `--lanes ${o.lanes.join(',')}`);
  if (o.faults.length !== FAULT_KINDS.length) parts.push(`--faults ${o.faults.join(',')}`);
  for (const spec of o.appModules ?? []) parts.push(`--app ${shellWord(spec)}`);
  for (const l of o.appLanes ?? []) parts.push(`--app-lane ${shellWord(`${l.lane}=${l.app}`)}`);
  if (o.appLanes?.length && o.appTx) parts.push(`--app-tx ${shellWord(JSON.stringify(o.appTx))}`);
  return parts.join(' ');
}

/** `word` as one word of a POSIX shell command line. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

export function buildReport(input: ReportInput): ChaosReport {
  const { options } = input;
  const outcomes: Record<Outcome, number> = { ok: 0, failed: 0, unknown: 0 };
  const byKind: ChaosReport['ops']['byKind'] = {};
  const latencies: number[] = [];
  for (const op of input.ops) {
    outcomes[op.outcome]++;
    const k = (byKind[op.kind] ??= { ok: 0, failed: 0, unknown: 0 });
    k[op.outcome]++;
    if (op.outcome === 'ok') latencies.push(op.completedAt - op.invokedAt);
  }
  latencies.sort((a, b) => a - b);
  const fired: Partial<Record<FaultKind, number>> = {};
  for (const f of input.faults) if (f.outcome === 'fired') fired[f.kind] = (fired[f.kind] ?? 0) + 1;
  const startedMs = Date.parse(input.startedAt);
  const timeline = buildTimeline(
    startedMs,
    input.endedAt,
    input.ledgers,
    input.samples,
    input.ops,
    input.faults,
  );
  const { entry: _entry, attach, ...rest } = options;
  return {
    version: 1,
    seed: options.seed,
    reproduce: reproduceCommand(options),
    startedAt: input.startedAt,
    elapsedMs: input.endedAt,
    verdict: input.violations.length === 0 ? 'clean' : 'violations',
    violations: input.violations,
    options: { ...rest, ...(attach ? { attach: { urls: attach.urls } } : {}) },
    faults: {
      enabled: input.kinds,
      skipped: input.skipped,
      fired,
      events: input.faults.map(({ plan, ...event }) => ({ ...event, holdMs: plan.holdMs })),
    },
    ops: {
      total: input.ops.length,
      outcomes,
      byKind,
      latencyMs: {
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: latencies.at(-1) ?? 0,
      },
    },
    streams: input.streams.map((s) => ({
      subscriber: s.subscriber,
      lane: s.lane,
      after: s.after,
      received: s.blocks.length,
      last: s.blocks.at(-1)?.height ?? s.after,
    })),
    lanes: timeline.lanes.map((l, i) => ({
      lane: l.lane,
      ...laneOps(input.ledgers[i]!, input.ops),
      height: l.height,
      txs: l.txs,
      terms: l.segments.length,
      failovers: l.failovers,
      maxFailoverGapMs: Math.max(0, ...l.failovers.map((f) => f.gapMs)),
    })),
    timeline,
    logs: input.dataDir ? join(input.dataDir, 'logs') : null,
    warnings: warnings(options, timeline, input.faults),
  };
}

/** A lane's app, and its operations by outcome and committed. */
function laneOps(
  ledger: LedgerSnapshot,
  ops: readonly Op[],
): Pick<ChaosReport['lanes'][number], 'app' | 'ops'> {
  const committed = new Set(ledger.blocks.flatMap((b) => b.txs));
  const counts = { ok: 0, failed: 0, unknown: 0, committed: 0 };
  for (const op of ops.filter((o) => o.lane === ledger.lane)) {
    counts[op.outcome]++;
    if (committed.has(op.id)) counts.committed++;
  }
  return { app: isTokenLane(ledger) ? 'token' : ledger.app!, ops: counts };
}

/** Gaps and recoveries far beyond the design's targets (failover within a lease TTL, database back within 5 s). */
function warnings(options: ChaosOptions, timeline: Timeline, faults: readonly FaultEvent[]): string[] {
  const limit = Math.max(5_000, 3 * options.leaseTtlMs);
  const out: string[] = [];
  for (const lane of timeline.lanes) {
    for (const f of lane.failovers) {
      if (f.gapMs > limit) {
        out.push(
          `lane ${lane.lane}: no block for ${f.gapMs} ms before ${f.to} took over with term ${f.toTerm} at ${(f.at / 1_000).toFixed(1)} s` +
            (f.fault !== undefined ? ` (after fault #${f.fault})` : ''),
        );
      }
    }
  }
  for (const f of faults) {
    if (f.recoveredAt !== undefined && f.healedAt !== undefined && f.recoveredAt - f.healedAt > 2 * limit) {
      out.push(
        `fault #${f.index} (${f.kind}): the cluster took ${f.recoveredAt - f.healedAt} ms to recover after healing`,
      );
    }
  }
  return out;
}

function table(head: string[], rows: Array<Array<string | number>>): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`),
  ].join('\n');
}

export function reportMarkdown(r: ChaosReport): string {
  const s = (ms: number): string => `${(ms / 1_000).toFixed(1)} s`;
  const lines = [
    `# baton chaos: seed ${r.seed}: ${r.verdict === 'clean' ? 'clean' : `${r.violations.length} violations`}`,
    '',
    `Started ${r.startedAt}, ran ${s(r.elapsedMs)} (workload ${s(r.options.durationMs)}). Reproduce with:`,
    '',
    '```sh',
    r.reproduce,
    '```',
    '',
    '![timeline](timeline.svg)',
    '',
    '## Verdict',
    '',
    r.violations.length === 0
      ? 'No invariant was violated: no fork, gap or block under a fenced term; every acknowledged transaction committed exactly once and no refused one committed; on token lanes, state equals a replay of the committed transactions and supply is conserved; every stream gapless and without repeats; every replica agrees with the database.'
      : r.violations.map((v) => `- **${describeViolation(v)}**`).join('\n'),
    '',
    ...(r.warnings.length > 0 ? ['## Warnings', '', ...r.warnings.map((w) => `- ${w}`), ''] : []),
    '## Faults',
    '',
    `Enabled: ${r.faults.enabled.join(', ') || 'none'}.`,
    ...(r.faults.skipped.length > 0
      ? ['', ...r.faults.skipped.map((x) => `- skipped ${x.kind}: ${x.why}`)]
      : []),
    '',
    table(
      ['#', 'at', 'fault', 'what', 'held', 'recovered after heal'],
      r.faults.events.map((f) => [
        f.index,
        s(f.startedAt),
        f.outcome === 'fired' ? f.kind : `${f.kind} (${f.outcome})`,
        f.detail + (f.note ? ` (${f.note})` : ''),
        `${(f.healedAt ?? f.startedAt) - f.startedAt} ms`,
        f.recoveredAt !== undefined && f.healedAt !== undefined ? `${f.recoveredAt - f.healedAt} ms` : 'no',
      ]),
    ),
    '',
    '## Operations',
    '',
    table(
      ['kind', 'ok', 'failed', 'unknown'],
      Object.entries(r.ops.byKind).map(([k, o]) => [k, o.ok, o.failed, o.unknown]),
    ),
    '',
    `${r.ops.total} operations: ${r.ops.outcomes.ok} ok, ${r.ops.outcomes.failed} failed, ${r.ops.outcomes.unknown} unknown. ` +
      `Latency of ok submissions p50 ${r.ops.latencyMs.p50} ms, p99 ${r.ops.latencyMs.p99} ms, max ${r.ops.latencyMs.max} ms. ` +
      '(`app` operations send the `--app-tx` intent on app lanes; `forged` operations are badly signed on purpose and must fail; `resubmit` repeats an earlier envelope and must be recognised.)',
    '',
    '## Lanes and failovers',
    '',
    table(
      [
        'lane',
        'app',
        'operations ok / failed / unknown',
        'in a block',
        'height',
        'transactions',
        'terms',
        'failovers',
        'longest gap without blocks',
      ],
      r.lanes.map((l) => [
        l.lane,
        l.app,
        `${l.ops.ok} / ${l.ops.failed} / ${l.ops.unknown}`,
        l.ops.committed,
        l.height,
        l.txs,
        l.terms,
        l.failovers.length,
        `${l.maxFailoverGapMs} ms`,
      ]),
    ),
    '',
    'The token model (a replay of balances and results) and the supply are checked on token lanes; every other check on every lane.',
    '',
    table(
      ['lane', 'at', 'from', 'to', 'gap', 'fault'],
      r.lanes.flatMap((l) =>
        l.failovers.map((f) => [
          l.lane,
          s(f.at),
          `${f.from} t${f.fromTerm}`,
          `${f.to} t${f.toTerm}`,
          `${f.gapMs} ms`,
          f.fault ?? '',
        ]),
      ),
    ),
    '',
    '## Streams',
    '',
    table(
      ['subscriber', 'lane', 'from', 'received', 'last height'],
      r.streams.map((x) => [x.subscriber, x.lane, `after ${x.after}`, x.received, x.last]),
    ),
    '',
    ...(r.logs ? [`Replica and PostgreSQL logs: \`${r.logs}\`.`, ''] : []),
  ];
  return lines.join('\n');
}

/** Writes report.json, report.md and timeline.svg into `dir`. */
export async function writeReport(dir: string, report: ChaosReport): Promise<void> {
  const replicas = [
    ...new Set(
      report.timeline.lanes.flatMap((l) => [
        ...l.segments.map((s) => s.producer),
        ...l.leaders.map((x) => x.leader ?? ''),
      ]),
    ),
  ]
    .filter((x) => x !== '')
    .sort();
  const svg = timelineSvg({
    title: `baton chaos · seed ${report.seed} · ${report.verdict}`,
    timeline: report.timeline,
    faults: report.faults.events,
    replicas,
  });
  await writeFile(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  await writeFile(join(dir, 'report.md'), reportMarkdown(report));
  await writeFile(join(dir, 'timeline.svg'), svg);
}
