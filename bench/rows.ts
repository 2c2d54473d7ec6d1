import { cpus } from 'node:os';
import { OTHERS } from './cpu.js';
import type { RawInsertResult } from './baseline-insert.js';
import type { BenchResults } from './report.js';
import { failureKinds, int, ms, ms1, row, secs, skewed, verdict, type Row } from './row.js';
import { failoverRows } from './rows-failover.js';
import { summarize } from './stats.js';
import type { RollingResult } from './rolling.js';
import type { StreamsResult } from './streams.js';
import type { ThroughputResult } from './throughput.js';
import type { UpResult } from './up.js';
import { handoverRows, lanesRows } from './rows-placement.js';
import { appThroughputRows, startRows, upgradeRows } from './rows-apps.js';

const replicaCpu = (t: ThroughputResult): number =>
  Object.entries(t.cpu).reduce((sum, [k, v]) => (k.startsWith('replica ') ? sum + v : sum), 0);

/** Per replica count: what explains the committed rate (load, latency, blocks, CPU). */
function throughputDetailRows(t: ThroughputResult, raw: RawInsertResult | undefined): Row[] {
  const s = `throughput, ${t.options.replicas} replica${t.options.replicas === 1 ? '' : 's'}`;
  return [
    row(
      s,
      'committed tx in each second of the window min / p50 / max; accepted (2xx)/s; errors; pending at window end',
      `${t.perSecond ? `${int(t.perSecond.min)} / ${int(t.perSecond.p50)} / ${int(t.perSecond.max)}` : '—'}; ` +
        `${int(t.acceptedPerSec)}/s; ${t.errors}; ${int(t.backlogAtEnd)}`,
      failureKinds(t.errorKinds),
    ),
    row(s, 'submit → 2xx latency p50 / p99', `${ms(t.acceptMs?.p50)} / ${ms(t.acceptMs?.p99)}`),
    row(
      s,
      'blocks in window / mean txs per block / max / mean interval',
      `${t.blocks.count} / ${t.blocks.meanTxs.toFixed(0)} / ${t.blocks.maxTxs} / ${ms(t.blocks.meanIntervalMs)}`,
    ),
    row(
      s,
      `CPU in window, cores (of ${cpus().length})`,
      Object.entries(t.cpu)
        .filter(([k]) => k !== 'machineBusy' && k !== OTHERS)
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join('; '),
      `machine busy ${(t.cpu.machineBusy * 100).toFixed(0)}%, of which ${OTHERS} ${(t.cpu[OTHERS] ?? 0).toFixed(2)} cores` +
        skewed(t.cpu[OTHERS]),
    ),
    row(
      s,
      'CPU per committed tx: all replicas / PostgreSQL / load generator',
      [replicaCpu(t), t.cpu['postgres'] ?? NaN, t.cpu['bench process (load generator)'] ?? NaN]
        .map((cores) => `${int((cores * 1e6) / t.committedPerSec)} µs`)
        .join(' / '),
      raw
        ? `raw INSERT: PostgreSQL ${int(((raw.cpu['postgres'] ?? NaN) * 1e6) / raw.rowsPerSec)} µs/row`
        : '',
    ),
  ];
}

function throughputRows(runs: ThroughputResult[], raw: RawInsertResult | undefined): Row[] {
  const s = 'throughput';
  const rows: Row[] = [];
  if (raw) {
    rows.push(
      row(
        s,
        `baseline: raw single-row INSERT commits/s (${raw.connections} conns, ${raw.bodyBytes} B rows, ${raw.durationS} s)`,
        `${int(raw.rowsPerSec)} rows/s`,
        `commit p50 ${raw.commitMs?.p50.toFixed(1)} ms, PostgreSQL CPU ${raw.cpu['postgres']?.toFixed(2)} cores` +
          skewed(raw.cpu[OTHERS]),
      ),
    );
  }
  if (runs.length === 0) return rows;
  const counts = runs.map((t) => t.options.replicas).join(' / ');
  const three = runs.find((t) => t.options.replicas === 3);
  const windows = [...new Set(runs.map((t) => t.windowS.toFixed(1)))].join(' / ');
  rows.push(
    row(
      s,
      `committed signed tx/s with ${counts} replicas (${windows} s window each, saturating load)`,
      runs.map((t) => int(t.committedPerSec)).join(' / '),
      raw
        ? `raw INSERT ${int(raw.rowsPerSec)} rows/s; ratio ${runs.map((t) => (t.committedPerSec / raw.rowsPerSec).toFixed(2)).join(' / ')}`
        : '',
      three ? '≥ 3,000 tx/s with 3 replicas' : '',
      verdict(three ? three.committedPerSec >= 3000 : undefined),
    ),
    row(
      s,
      `submit → commit latency p50 / p99 with ${counts} replicas, same load ` +
        `(1 in ${runs[0]!.options.sampleEvery} tx: send time → its block first seen in the database, polled every 10 ms)`,
      runs.map((t) => `${ms(t.commitLatencyMs?.p50)} / ${ms(t.commitLatencyMs?.p99)}`).join('; '),
      `n = ${runs.map((t) => t.commitLatencyMs?.n ?? 0).join(' / ')}`,
    ),
  );
  for (const t of runs) rows.push(...throughputDetailRows(t, raw));
  const c = runs[0]!.crypto;
  rows.push(
    row(
      s,
      `crypto per tx: SDK signTx / bench sign (cached key) / server verify (${c.verifyBackend}, what the replicas use)`,
      [c.sdkSignTxUs, c.cachedKeySignUs, c.serverVerifyUs].map((us) => `${int(us)} µs`).join(' / '),
      `OpenSSL (node:crypto) verify ${int(c.opensslVerifyUs)} µs + ${int(c.opensslNewSignerUs)} µs per new signer key; measured in the bench process before the cluster starts`,
    ),
  );
  return rows;
}

function streamsRows(r: StreamsResult): Row[] {
  const s = 'streams';
  const l = r.latencyMs;
  const blocks = r.lastHeight - r.after;
  const spread = Object.entries(r.perReplica)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    row(
      s,
      `commit → subscriber latency p50 / p99 / max (${r.options.subscribers} SDK subscribers in ${r.subscriberThreads} bench threads, one replica each: ${spread}; ` +
        `commit = first sighting by a thread of its own that listens for commit notifications and polls the database every ~2 ms, not block \`time\`)`,
      `${ms1(l?.p50)} / ${ms1(l?.p99)} / ${ms1(l?.max)} (blocks after a ${r.options.warmupS} s warm-up under load)`,
      `warm-up's ${r.warmupHeight - r.after} blocks, timed apart: p50 ${ms1(r.warmupLatencyMs?.p50)} / p99 ${ms1(r.warmupLatencyMs?.p99)} / max ${ms1(r.warmupLatencyMs?.max)}; ` +
        `min ${ms1(l?.min)}; ${r.beforeDbSeen} deliveries arrived before the commit clock saw the block`,
      'p99 < 50 ms',
      verdict(l ? l.p99 < 50 : undefined),
    ),
    row(
      s,
      `deliveries, warm-up included (${blocks} blocks × ${r.options.subscribers} subscribers, ~${r.options.ratePerSec} tx/s for ${r.options.warmupS} + ${r.options.durationS} s)`,
      int(r.deliveries),
      `load (each tx sent once over plain keep-alive HTTP): ${int(r.load.accepted)} accepted / ${int(r.load.failed)} failed / ${int(r.load.skipped)} skipped`,
    ),
    row(
      s,
      'latency p50 / p99 by the replica subscribers read from',
      Object.entries(r.latencyByReplica)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k} ${ms1(v?.p50)} / ${ms1(v?.p99)}`)
        .join('; '),
      `subscriber threads' own event-loop delay p99 ${ms1(r.subscriberLoopDelayMs.p99)}, max ${ms1(r.subscriberLoopDelayMs.max)}: part of every latency here`,
    ),
    row(
      s,
      'missing / duplicate / out-of-order deliveries, subscriber errors',
      `${r.missing} / ${r.duplicates} / ${r.outOfOrder}, ${r.subscriberErrors}`,
      '',
      '0 / 0 / 0, 0',
      verdict(r.missing === 0 && r.duplicates === 0 && r.outOfOrder === 0 && r.subscriberErrors === 0),
    ),
  ];
}

function rollingRows(r: RollingResult): Row[] {
  const s = 'rolling restart';
  const out: Row[] = [];
  for (const round of r.rounds) {
    const kinds = failureKinds(round.load.failures);
    const ready = summarize(round.restarts.map((x) => x.readyMs));
    const stop = summarize(round.restarts.map((x) => x.stopMs));
    out.push(
      row(
        s,
        round.via === 'sdk'
          ? `SDK (all endpoints, ~${r.options.ratePerSec} tx/s), ${round.restarts.length} restarts: calls rejected after the SDK's retries (of submitted)`
          : `plain fetch via HAProxy (shipped cfg, each tx sent once, ~${r.options.ratePerSec} tx/s), ${round.restarts.length} restarts: non-2xx or failed (of submitted)`,
        `${int(round.load.failed)} (of ${int(round.load.submitted)})`,
        [
          kinds,
          `skipped ${round.load.skipped}`,
          `drain p50 ${ms(stop?.p50)}, start → ready p50 ${ms(ready?.p50)}`,
        ]
          .filter(Boolean)
          .join('; '),
        '0',
        verdict(round.load.failed === 0 && round.load.skipped === 0),
      ),
    );
  }
  const g = r.gap;
  const leaderRestarts = r.rounds.reduce((n, x) => n + x.restarts.filter((y) => y.wasLeader).length, 0);
  out.push(
    row(
      s,
      `block production gap per planned handover (last old-term block → first new-term block, block \`time\` fields), p50 / max (n=${g?.n ?? 0})`,
      `${ms(g?.p50)} / ${ms(g?.max)}`,
      `${leaderRestarts} leader restarts; per handover: ${r.handovers.map((h) => `${h.via} ${h.gapMs} ms`).join(', ') || '—'}`,
      '< 100 ms',
      verdict(g ? g.max < 100 : undefined),
    ),
  );
  return out;
}

function upRows(u: UpResult, pgStartMs: number | undefined): Row[] {
  const s = 'up';
  const pg = pgStartMs === undefined ? '' : `PostgreSQL alone, initdb + start (this run): ${secs(pgStartMs)}`;
  return [
    row(
      s,
      `\`baton up\` (${u.replicas} replicas) spawn → "ready in", empty data dir`,
      `${secs(u.cold.readyMs)} (${u.cold.reported})`,
      pg,
    ),
    row(
      s,
      '`baton up` spawn → "ready in", existing data dir',
      `${secs(u.warm.readyMs)} (${u.warm.reported})`,
    ),
    row(
      s,
      'SIGINT → exit (cold run / warm run), exit codes',
      `${secs(u.cold.stopMs)} / ${secs(u.warm.stopMs)}, ${u.cold.exitCode} / ${u.warm.exitCode}`,
    ),
  ];
}

export function buildRows(r: BenchResults): Row[] {
  const rows: Row[] = [];
  rows.push(...failoverRows(r));
  rows.push(...throughputRows(r.throughput ?? [], r.rawInsert));
  if (r.appThroughput) rows.push(...appThroughputRows(r.appThroughput, r));
  if (r.streams) rows.push(...streamsRows(r.streams));
  if (r.rolling) rows.push(...rollingRows(r.rolling));
  if (r.up) rows.push(...upRows(r.up, r.postgresStartMs));
  if (r.lanes) rows.push(...lanesRows(r.lanes));
  if (r.handover) rows.push(...handoverRows(r.handover));
  if (r.upgrade) rows.push(...upgradeRows(r.upgrade));
  if (r.start) rows.push(...startRows(r.start));
  for (const [section, message] of Object.entries(r.errors)) {
    rows.push(row(section, 'FAILED', message.split('\n')[0]!.slice(0, 200), '', '', 'MISSES'));
  }
  return rows;
}
