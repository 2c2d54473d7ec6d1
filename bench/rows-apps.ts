import type { AppThroughputResult, LaneThroughput } from './app-throughput.js';
import type { BenchResults } from './report.js';
import { failureKinds, int, ms, nOf, row, secs, verdict, type Row } from './row.js';
import type { StartResult, StartRun, StartSize } from './start.js';
import { summarize, type Summary } from './stats.js';
import type { UpgradeResult, UpgradeRun } from './upgrade.js';

const triple = (s: Summary | null | undefined): string => `${ms(s?.p50)} / ${ms(s?.p99)} / ${ms(s?.max)}`;

function ordinaryText(run: UpgradeRun): string {
  return run.ordinary && run.ordinaryPending
    ? `ordinary interval between blocks of one term (same lane, same run), while a tx waited: ${triple(run.ordinaryPending)}; raw: ${triple(run.ordinary)} (n=${run.ordinary.n})`
    : '';
}

/** Rows of the upgrade section: gaps across the switches, failed requests, wrong-version blocks. */
export function upgradeRows(r: UpgradeResult): Row[] {
  const s = `upgrade (3 replicas, ${r.app}, ~${r.options.ratePerSec} tx/s SDK load on the lane upgraded)`;
  const inPlace = r.inPlace;
  const gaps = summarize(inPlace.switches.map((x) => x.pendingGapMs));
  const raw = summarize(inPlace.switches.map((x) => x.gapMs));
  const propose = summarize(inPlace.switches.map((x) => x.proposeToSwitchMs));
  const stayed = inPlace.switches.filter((x) => !x.termChanged && x.nextProducer === x.producer).length;
  const rows: Row[] = [
    row(
      s,
      `${inPlace.switches.length} of ${inPlace.lanes.length} lanes upgraded one after another, ${inPlace.setup}: ` +
        "block production gap across the switch (switch block `time` → next block's, from the arrival of the next block's oldest tx if later), " +
        `p50 / p99 / max (${nOf(gaps)})`,
      `${triple(gaps)} (raw ${triple(raw)})`,
      ordinaryText(inPlace),
      'p99 < 100 ms',
      verdict(
        gaps && inPlace.switches.length === r.options.upgrades ? gaps.p99 < 100 : gaps ? false : undefined,
      ),
    ),
    row(
      s,
      'in place: the next block came from the same leader and term / admin request → switch block `time`, p50 / max',
      `${stayed} of ${inPlace.switches.length} / ${ms(propose?.p50)} / ${ms(propose?.max)}`,
    ),
  ];
  const h = r.handover;
  if (h) {
    const hg = summarize(h.switches.map((x) => x.pendingGapMs));
    rows.push(
      row(
        s,
        `leader lacks the new version (${h.setup}): the switch is a planned handover; gap across the switch as above, ` +
          (h.switches.length === 1 ? '1 upgrade' : `max of ${h.switches.length} upgrades`),
        h.switches
          .map(
            (x) =>
              `${ms(x.pendingGapMs)} (raw ${ms(x.gapMs)}; ${x.producer} → ${x.nextProducer}${x.termChanged ? ', new term' : ''})`,
          )
          .join('; ') || '—',
        ordinaryText(h),
        '< 100 ms',
        verdict(hg && h.switches.length === r.options.handoverTrials ? hg.max < 100 : hg ? false : undefined),
      ),
    );
  }
  const runs = [inPlace, ...(h ? [h] : [])];
  const failed = runs.reduce((n, x) => n + x.load.failed, 0);
  const submitted = runs.reduce((n, x) => n + x.load.submitted, 0);
  const skipped = runs.reduce((n, x) => n + x.load.skipped, 0);
  const kinds = failureKinds(
    Object.assign({}, ...runs.map((x) => x.load.failures)) as Record<string, number>,
  );
  rows.push(
    row(
      s,
      'client requests failed (SDK, all endpoints, retries), every cluster',
      `${int(failed)} of ${int(submitted)}`,
      [kinds, skipped > 0 ? `skipped ${skipped}` : ''].filter(Boolean).join('; '),
      '0',
      verdict(failed === 0 && skipped === 0),
    ),
  );
  const wrong = runs.reduce((n, x) => n + x.wrongVersion, 0);
  const wrongSwitches = runs.reduce((n, x) => n + x.wrongSwitches, 0);
  rows.push(
    row(
      s,
      "blocks of the wrong version over every lane's chain (after a switch not of the new version, before it of another) / switches not as requested",
      `${wrong} / ${wrongSwitches}`,
      `of ${runs.map((x) => int(x.blocks)).join(' + ')} blocks on ${runs.map((x) => x.lanes.length).join(' + ')} lanes, ${runs.map((x) => x.switches.length).join(' + ')} switches`,
      '0 / 0',
      verdict(wrong === 0 && wrongSwitches === 0),
    ),
  );
  return rows;
}

const each = (runs: StartRun[], f: (r: StartRun) => string): string => runs.map(f).join(' / ');
const mb = (v: number): string => (Number.isFinite(v) ? `${Math.round(v)} MB` : '—');
const memory = (runs: StartRun[]): string =>
  runs.map((y) => `${mb(y.rssAtReadyMb)} / ${mb(y.rssAfterReadsMb)} / ${mb(y.peakRssMb)}`).join('; ');
/** How the replica held the lane's state, from its "lane state loaded" log line. */
const held = (runs: StartRun[]): string =>
  runs
    .map((y) =>
      y.loaded === null
        ? '—'
        : y.loaded.whole
          ? `held whole (${int(y.loaded.keys)} keys)`
          : `read through (${int(y.loaded.keys)} keys at start)`,
    )
    .join(' / ');

/** Rows of the start section: per state size, ready time, first reads and memory, beside an empty lane. */
export function startRows(r: StartResult): Row[] {
  const s = 'start (1 replica, token lane)';
  const base = r.baseline;
  const runs = `${r.options.runs} run${r.options.runs === 1 ? '' : 's'}`;
  const rows: Row[] = [];
  const label = (x: StartSize) => `${int(x.keys)} state keys, ${int(x.blocks)} blocks`;
  for (const x of r.sizes) {
    const big = x.keys >= 1_000_000;
    rows.push(
      row(
        s,
        `${label(x)}: spawn → /readyz 200 (polled every 20 ms), ${runs}`,
        each(x.runs, (y) => secs(y.readyMs)),
        `empty lane: ${each(base.runs, (y) => secs(y.readyMs))}`,
        big ? '≤ 2 s' : '',
        big ? verdict(x.runs.every((y) => y.readyMs <= 2000)) : '',
      ),
      row(
        s,
        `${label(x)}: spawn → first 200 of GET state/{key} ; of query/balance (a random existing account), ${runs}`,
        `${each(x.runs, (y) => secs(y.stateMs))} ; ${each(x.runs, (y) => secs(y.queryMs))}`,
        `empty lane: ${each(base.runs, (y) => secs(y.stateMs))} ; ${each(base.runs, (y) => secs(y.queryMs))}`,
      ),
      row(
        s,
        `${label(x)}: replica RSS at ready / after the reads / peak (VmHWM), ${runs}; how the replica held the state (its "lane state loaded" log line)`,
        `${memory(x.runs)}; ${held(x.runs)}`,
        `empty lane: ${memory(base.runs)}`,
      ),
    );
  }
  rows.push(
    row(
      s,
      'database prepared by SQL (bulk INSERT … generate_series, VACUUM ANALYZE), not timed in the figures above',
      [base, ...r.sizes]
        .map((x) => `${x.keys === 0 ? 'empty' : int(x.keys)}: ${secs(x.prepareMs)}`)
        .join('; '),
      `SIGTERM → exit, every start: max ${secs(Math.max(...[base, ...r.sizes].flatMap((x) => x.runs.map((y) => y.stopMs))))}`,
    ),
  );
  return rows;
}

const cpuPerTx = (t: LaneThroughput): string => {
  const replicas = Object.entries(t.cpu).reduce(
    (sum, [k, v]) => (k.startsWith('replica ') ? sum + v : sum),
    0,
  );
  return [replicas, t.cpu['postgres'] ?? NaN]
    .map((c) => `${int((c * 1e6) / t.committedPerSec)} µs`)
    .join(' / ');
};

/** Rows of the app-throughput section: the names lane beside the token lane of the same cluster. */
export function appThroughputRows(r: AppThroughputResult, all: BenchResults): Row[] {
  const s = `app throughput (${r.options.replicas} replicas)`;
  const { app, token } = r;
  const three = all.throughput?.find((t) => t.options.replicas === r.options.replicas);
  const pair = (f: (t: LaneThroughput) => string) => `${f(app)} ; token ${f(token)}`;
  return [
    row(
      s,
      `committed signed tx/s, lane of the user's app module (${app.app}, \`${app.kind}\`), saturating load ` +
        `(${r.options.concurrency} requests in flight, ${app.windowS.toFixed(1)} s window after ${r.options.warmupS} s warm-up)`,
      int(app.committedPerSec),
      `token lane (${token.app}, \`${token.kind}\`), same cluster and load, just before: ${int(token.committedPerSec)} tx/s; ratio ${(app.committedPerSec / token.committedPerSec).toFixed(2)}` +
        (three
          ? `; throughput section, ${r.options.replicas} replicas: ${int(three.committedPerSec)} tx/s`
          : ''),
      '≥ 3,000 tx/s with 3 replicas (the throughput target)',
      verdict(app.committedPerSec >= 3000),
    ),
    row(
      s,
      'submit → commit latency p50 / p99 (names ; token)',
      pair((t) => `${ms(t.commitLatencyMs?.p50)} / ${ms(t.commitLatencyMs?.p99)}`),
      `n = ${app.commitLatencyMs?.n ?? 0} ; ${token.commitLatencyMs?.n ?? 0}`,
    ),
    row(
      s,
      'accepted (2xx)/s; errors; pending at window end; blocks / mean txs per block (names ; token)',
      pair(
        (t) =>
          `${int(t.acceptedPerSec)}/s; ${t.errors}; ${int(t.backlogAtEnd)}; ${t.blocks.count} / ${t.blocks.meanTxs.toFixed(0)}`,
      ),
      [
        ...[app, token].map((t) => (t.errors > 0 ? `${t.lane} errors: ${failureKinds(t.errorKinds)}` : '')),
        ...[app, token]
          .filter((t) => t.exhausted)
          .map((t) => `WARNING: the pre-signed txs of lane ${t.lane} ran out inside its window`),
      ]
        .filter(Boolean)
        .join('; '),
    ),
    row(
      s,
      'CPU per committed tx: all replicas / PostgreSQL (names ; token)',
      pair(cpuPerTx),
      `leaders: names ${app.leader}, token ${token.leader}`,
    ),
  ];
}
