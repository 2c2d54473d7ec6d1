import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FaultEvent } from '../../src/chaos/faults.js';
import type { Op } from '../../src/chaos/history.js';
import type { LedgerSnapshot } from '../../src/chaos/ledger.js';
import { buildReport, reportMarkdown } from '../../src/chaos/report.js';
import type { ChaosOptions } from '../../src/chaos/run.js';
import { FAULT_KINDS } from '../../src/chaos/schedule.js';
import { timelineSvg } from '../../src/chaos/timeline-svg.js';

const START = Date.parse('2026-01-01T00:00:00.000Z');

const options: ChaosOptions = {
  seed: 77,
  durationMs: 10_000,
  replicas: 3,
  lanes: ['main'],
  faults: [...FAULT_KINDS],
  faultEveryMs: 1_500,
  ratePerSec: 40,
  clients: 4,
  leaseTtlMs: 1_500,
  outDir: '/tmp/x',
  settleTimeoutMs: 60_000,
  recoveryTimeoutMs: 60_000,
  keepData: false,
};

/** Blocks by r1 (term 1) until 4 s, then by r2 (term 2) from 4.6 s: one failover with a 600 ms gap. */
function ledger(): LedgerSnapshot {
  const blocks = [1, 2, 3, 4, 5, 6].map((height) => {
    const term = height <= 3 ? 1 : 2;
    const time = START + (height <= 3 ? height * 1_000 + 1_000 : 4_600 + (height - 4) * 1_000);
    return {
      height,
      hash: `h${height}`,
      parentHash: `h${height - 1}`,
      term,
      producer: `r${term}`,
      time,
      txs: [`t${height}`],
    };
  });
  return { lane: 'main', source: 'database', blocks, balances: new Map(), allAccounts: true };
}

const fault: FaultEvent = {
  index: 1,
  kind: 'kill-leader',
  plan: { index: 1, kind: 'kill-leader', gapMs: 500, holdMs: 300, role: 'leader', lane: 0, pick: 0 },
  outcome: 'fired',
  targets: ['r1'],
  lane: 'main',
  term: 1,
  detail: 'SIGKILL r1 (leader of main, term 1), restart after 300 ms',
  startedAt: 4_100,
  healedAt: 4_400,
  recoveredAt: 5_000,
};

const op = (seq: number, outcome: Op['outcome'], kind: Op['kind'] = 'faucet'): Op => ({
  seq,
  client: 'c1',
  lane: 'main',
  id: `t${seq}`,
  kind,
  from: 'a'.repeat(64),
  args: { amount: 1 },
  invokedAt: seq * 1_000,
  completedAt: seq * 1_000 + 20,
  outcome,
});

test('the report: failovers with their gap and fault, outcomes, the command that repeats the run', () => {
  const report = buildReport({
    options,
    startedAt: new Date(START).toISOString(),
    endedAt: 10_000,
    kinds: [...FAULT_KINDS],
    skipped: [],
    faults: [fault],
    ops: [op(1, 'ok'), op(2, 'ok'), op(3, 'unknown'), op(4, 'failed', 'forged')],
    streams: [
      {
        subscriber: 's1',
        lane: 'main',
        after: 0,
        startedAt: 0,
        blocks: [{ height: 1, hash: 'h1', at: 2_000 }],
      },
    ],
    ledgers: [ledger()],
    samples: [
      { at: 1_000, lane: 'main', leader: 'r1', term: 1 },
      { at: 4_200, lane: 'main', leader: null, term: 1 },
      { at: 4_500, lane: 'main', leader: 'r2', term: 2 },
    ],
    violations: [],
    dataDir: '/tmp/x/cluster',
  });
  assert.equal(report.verdict, 'clean');
  assert.deepEqual(report.warnings, []);
  assert.deepEqual(report.faults.fired, { 'kill-leader': 1 });
  assert.deepEqual(report.ops.outcomes, { ok: 2, failed: 1, unknown: 1 });
  assert.equal(report.lanes[0]!.terms, 2);
  assert.deepEqual(
    report.lanes[0]!.failovers.map((f) => [f.from, f.to, f.gapMs, f.fault]),
    [['r1', 'r2', 600, 1]],
  );
  assert.equal(
    report.timeline.perSecond.committed.reduce((a, b) => a + b, 0),
    6,
  );
  assert.equal(
    report.timeline.perSecond.failed.reduce((a, b) => a + b, 0),
    0,
    'forged refusals are expected',
  );
  assert.match(report.reproduce, /^baton chaos --seed 77 --duration 10s --fault-every 1.5s .*--lanes main$/);

  const md = reportMarkdown(report);
  assert.match(md, /seed 77: clean/);
  assert.match(md, /\| 1 \| 4\.1 s \| kill-leader \|/);

  const svg = timelineSvg({
    title: 't',
    timeline: report.timeline,
    faults: report.faults.events,
    replicas: ['r1', 'r2', 'r3'],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /r1 t1/);
  assert.match(svg, /600 ms/, 'the failover gap is labelled');
  assert.match(svg, /#1<\/tspan> 4\.1 s kill-leader/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
});

test('a report with violations says so, one line each', () => {
  const report = buildReport({
    options,
    startedAt: new Date(START).toISOString(),
    endedAt: 10_000,
    kinds: [],
    skipped: [{ kind: 'postgres-restart', why: 'attached' }],
    faults: [],
    ops: [],
    streams: [],
    ledgers: [ledger()],
    samples: [],
    violations: [
      { kind: 'lost-ack', lane: 'main', message: 'faucet t9 was acknowledged but is in no block' },
    ],
    dataDir: null,
  });
  assert.equal(report.verdict, 'violations');
  const md = reportMarkdown(report);
  assert.match(md, /1 violations/);
  assert.match(md, /- \*\*lost-ack \[main\]: faucet t9 was acknowledged but is in no block\*\*/);
  assert.match(md, /skipped postgres-restart: attached/);
});

test('a lane long without blocks across a change of leader is a warning, not a violation', () => {
  const slow = ledger();
  for (const b of slow.blocks) if (b.term === 2) b.time += 8_000;
  const report = buildReport({
    options,
    startedAt: new Date(START).toISOString(),
    endedAt: 20_000,
    kinds: [],
    skipped: [],
    faults: [fault],
    ops: [],
    streams: [],
    ledgers: [slow],
    samples: [],
    violations: [],
    dataDir: null,
  });
  assert.equal(report.verdict, 'clean');
  assert.deepEqual(report.warnings, [
    'lane main: no block for 8600 ms before r2 took over with term 2 at 12.6 s (after fault #1)',
  ]);
  assert.match(reportMarkdown(report), /## Warnings\n\n- lane main: no block for 8600 ms/);
});
