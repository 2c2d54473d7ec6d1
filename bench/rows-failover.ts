import type { Etcd3Result } from './etcd-failover.js';
import type { CrashResult, HangResult } from './failover.js';
import type { GracefulResult } from './graceful.js';
import type { LoadStats } from './load.js';
import type { BenchResults } from './report.js';
import { failureKinds, int, ms, nOf, otherCpuRow, p50p99max, row, verdict, type Row } from './row.js';
import { summarize } from './stats.js';

const p50max = (s: { p50: number; max: number } | null | undefined): string =>
  `${ms(s?.p50)} / ${ms(s?.max)}`;

const etcdLabel = (e: Etcd3Result): string => `etcd3 election, lease TTL ${e.ttlS} s (${e.ttlSource})`;

function crashRows(r: CrashResult, hang: HangResult | undefined, etcd: Etcd3Result | undefined): Row[] {
  const f = r.failover;
  const s = 'crash (SIGKILL leader)';
  const firstBlock = summarize(r.trials.map((t) => t.firstBlockTxs ?? NaN));
  const baselines = [
    etcd?.failover ? `${etcdLabel(etcd)}: p50 ${ms(etcd.failover.p50)}` : '',
    hang?.failover ? `lease-expiry failover (hang): p50 ${ms(hang.failover.p50)}` : '',
    'anchors: FireFly ~15 s, k8s lease 15 s, Patroni ttl 30 s',
  ];
  return [
    row(
      s,
      `failover p50 / p99 / max (${nOf(f)})`,
      p50p99max(f),
      baselines.filter(Boolean).join('; '),
      'p99 ≤ 1000 ms',
      verdict(f ? f.p99 <= 1000 && r.timeouts === 0 : undefined),
    ),
    row(s, 'kill → elector grants new term ("lane elected"), p50 / max', p50max(r.elected)),
    row(s, 'kill → term claimed in the fence ("leading lane"), p50 / max', p50max(r.leading)),
    row(s, "kill → new leader's first block time (its clock), p50 / max", p50max(r.blockTime)),
    row(
      s,
      "transactions in the new leader's first block, p50 / max",
      `${firstBlock?.p50 ?? '—'} / ${firstBlock?.max ?? '—'}`,
    ),
    row(s, 'kill → that block visible in the database (polled directly), p50 / max', p50max(r.dbVisible)),
    row(s, 'trials without failover (timed out)', String(r.timeouts), '', '0', verdict(r.timeouts === 0)),
    row(s, 'killed replica restart → ready, p50', ms(r.restart?.p50)),
    otherCpuRow(s, r.otherCpu),
  ];
}

function hangRows(r: HangResult, ttlMs: number): Row[] {
  const s = 'hang (SIGSTOP leader)';
  const f = r.failover;
  const limit = ttlMs + 500;
  return [
    row(
      s,
      `failover p50 / p99 / max (${nOf(f)})`,
      p50p99max(f),
      `lease TTL ${ttlMs} ms`,
      `≤ TTL + 0.5 s = ${limit} ms`,
      verdict(f ? f.max <= limit && r.timeouts === 0 : undefined),
    ),
    row(
      s,
      'old-term blocks after takeover',
      String(r.oldTermBlocksAfter),
      '',
      '0',
      verdict(r.oldTermBlocksAfter === 0),
    ),
    row(
      s,
      'term regressions / broken parent links (whole lane)',
      `${r.termRegressions} / ${r.chainBreaks}`,
      '',
      '0 / 0',
      verdict(r.termRegressions === 0 && r.chainBreaks === 0),
    ),
    row(s, 'woken ex-leader: steps down after SIGCONT, p50 / max', p50max(r.stepDown)),
    row(
      s,
      'woken ex-leader: its own GET /v1/cluster names the new leader, after SIGCONT p50 / max',
      p50max(r.view),
    ),
    row(s, 'woken ex-leader: commits refused by the fence', String(r.fencedCommits)),
    row(s, 'SIGSTOP → elector grants new term, p50 / max', p50max(r.elected)),
    otherCpuRow(s, r.otherCpu),
  ];
}

function gracefulRows(r: GracefulResult, rate: number | undefined): Row[] {
  const s = 'graceful (SIGTERM leader)';
  const g = r.gap;
  const l = r.load;
  return [
    row(
      s,
      `block production gap, last old-term block → first new-term block (block \`time\` fields; from the arrival of the new block's oldest tx if later: before it there was nothing to produce), p50 / p99 / max (${nOf(g)})`,
      p50p99max(g),
      `raw block-time gap ${p50p99max(r.rawGap)}`,
      'p99 < 100 ms',
      verdict(g ? g.p99 < 100 && r.timeouts === 0 : undefined),
    ),
    row(
      s,
      'SIGTERM → first new-term block seen through a surviving replica, p50 / p99 / max',
      p50p99max(r.failover),
    ),
    row(s, 'SIGTERM → next leader granted the term ("lane elected"), p50 / max', p50max(r.elected)),
    row(s, 'SIGTERM → old leader exited (drain done), p50 / max', p50max(r.exit)),
    row(
      s,
      `SDK submissions answered during the trials (~${rate ?? '?'} tx/s): accepted / failed / skipped`,
      `${int(l.accepted)} / ${int(l.failed)} / ${int(l.skipped)}`,
      failureKinds(l.failures),
      '0 failed',
      verdict(l.failed === 0 && l.skipped === 0),
    ),
    row(s, 'trials without handover (timed out)', String(r.timeouts), '', '0', verdict(r.timeouts === 0)),
    otherCpuRow(s, r.otherCpu),
  ];
}

/** Baton's crash figures (Baton column) beside the etcd3 recipe's (baseline column), same run. */
function etcd3Rows(e: Etcd3Result, crash: CrashResult | undefined): Row[] {
  const s = 'crash vs etcd3 election';
  const f = e.failover;
  const baton = crash?.failover;
  const ratio = baton && f ? baton.p50 / f.p50 : undefined;
  const etcd = `${etcdLabel(e)}, ${e.options.candidates} candidates, ${e.trials.length} trials`;
  return [
    row(
      s,
      'SIGKILL leader → next work by a new leader, p50 / p99 / max (Baton: first new-term block seen; ' +
        `etcd3: first heartbeat put by another candidate, seen by a watch; Baton ${nOf(baton)}; etcd3 ${nOf(f)})`,
      crash ? p50p99max(baton) : '— (crash section not run)',
      `${etcd}: ${p50p99max(f)}`,
    ),
    row(
      s,
      'SIGKILL leader → the next leader knows it leads, p50 / max (Baton: "lane elected"; etcd3: "elected" event)',
      crash ? p50max(crash.elected) : '—',
      `etcd3: ${p50max(e.elected)}`,
    ),
    row(
      s,
      'SIGKILL leader → election.observe() in the bench process names the new leader, p50 / max',
      '',
      `etcd3: ${p50max(e.observed)}`,
    ),
    row(
      s,
      'ratio Baton crash failover p50 / etcd3 failover p50',
      ratio === undefined
        ? '— (needs both sections)'
        : `${ratio.toPrecision(2)} (Baton ${int(1 / ratio)}× faster)`,
      '',
      '≤ 0.1 (Baton ≥ 10× faster)',
      verdict(ratio === undefined ? undefined : ratio <= 0.1),
    ),
    row(
      s,
      'etcd3 trials without failover (timed out)',
      '',
      String(e.timeouts),
      '0',
      verdict(e.timeouts === 0),
    ),
    {
      ...otherCpuRow(s, e.otherCpu),
      metric: 'CPU of processes outside the benchmark during an etcd3 trial, mean / max (cores)',
    },
  ];
}

function loadRows(l: LoadStats & { ratePerSec: number }): Row[] {
  return [
    row(
      'failover load',
      `SDK submissions during the graceful, crash and hang trials (~${l.ratePerSec} tx/s): accepted / failed / skipped`,
      `${int(l.accepted)} / ${int(l.failed)} / ${int(l.skipped)}`,
      failureKinds(l.failures),
    ),
  ];
}

/** Rows of the failover sections and their etcd3 baseline, in table order. */
export function failoverRows(r: BenchResults): Row[] {
  const rows: Row[] = [];
  if (r.crash) rows.push(...crashRows(r.crash, r.hang, r.etcd3));
  if (r.hang) rows.push(...hangRows(r.hang, r.options.leaseTtlMs));
  if (r.graceful) rows.push(...gracefulRows(r.graceful, r.failoverLoad?.ratePerSec));
  if (r.failoverLoad) rows.push(...loadRows(r.failoverLoad));
  if (r.etcd3) rows.push(...etcd3Rows(r.etcd3, r.crash));
  return rows;
}
