import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { RawInsertResult } from './baseline-insert.js';
import type { Etcd3Result } from './etcd-failover.js';
import type { CrashResult, HangResult } from './failover.js';
import type { GracefulResult } from './graceful.js';
import type { LoadStats } from './load.js';
import type { RollingResult } from './rolling.js';
import { OTHERS } from './cpu.js';
import { int, secs, type Row } from './row.js';
import type { StreamsResult } from './streams.js';
import type { ThroughputResult } from './throughput.js';
import type { UpResult } from './up.js';
import type { LanesResult } from './lanes.js';
import type { HandoverResult } from './handover.js';
import type { UpgradeResult } from './upgrade.js';
import type { StartResult } from './start.js';
import type { AppThroughputResult } from './app-throughput.js';

export interface BenchResults {
  date: string;
  command: string;
  options: {
    trials: number;
    hangTrials: number;
    etcdTrials: number;
    durationS: number;
    warmupS: number;
    leaseTtlMs: number;
    replicas: number[];
  };
  machine: {
    cpu: string;
    cores: number;
    memoryGb: number;
    node: string;
    postgres: string;
    /** The etcd server of the etcd3 baseline, when that section ran. */
    etcd?: string;
    /** Machine-wide busy share over 1 s before the run started: other work on the box skews figures. */
    busyBeforePct?: number;
  };
  postgresStartMs?: number;
  crash?: CrashResult;
  hang?: HangResult;
  graceful?: GracefulResult;
  etcd3?: Etcd3Result;
  failoverLoad?: LoadStats & { ratePerSec: number };
  rawInsert?: RawInsertResult;
  /** One run per replica count, in the order given by --replicas. */
  throughput?: ThroughputResult[];
  streams?: StreamsResult;
  rolling?: RollingResult;
  up?: UpResult;
  lanes?: LanesResult;
  handover?: HandoverResult;
  upgrade?: UpgradeResult;
  start?: StartResult;
  appThroughput?: AppThroughputResult;
  errors: Record<string, string>;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

function failoverSetup(r: BenchResults): string[] {
  const kinds = [
    r.graceful ? `${r.graceful.trials.length} graceful` : '',
    r.crash ? `${r.crash.trials.length} crash` : '',
    r.hang ? `${r.hang.trials.length} hang` : '',
  ].filter(Boolean);
  if (kinds.length === 0) return [];
  return [
    `- failover sections: 3 replicas, lease TTL ${r.options.leaseTtlMs} ms, lane "main", ${kinds.join(' / ')} trials under ` +
      `~${r.failoverLoad?.ratePerSec ?? '?'} tx/s of SDK load; failover = first sighting (blocks API of a surviving replica, ` +
      'polled every ~5 ms) of a block with a newer term by another producer',
  ];
}

function etcdSetup(e: Etcd3Result | undefined): string[] {
  if (!e) return [];
  return [
    `- etcd3 baseline: etcd ${e.etcdVersion}, one member on 127.0.0.1 started by the benchmark (fresh temporary data ` +
      `directory, default settings, fsync on); the ${e.library} npm library's recipe \`client.election(name).campaign(value)\`, ` +
      `lease TTL ${e.ttlS} s (${e.ttlSource}); ${e.options.candidates} candidate processes, the leader puts a heartbeat key ` +
      'every 10 ms; failover = SIGKILL of the leader (at a random point of its lease renewal cycle) → first heartbeat by ' +
      'another candidate, seen by a watch in the bench process',
  ];
}

function throughputNotes(runs: ThroughputResult[] | undefined): string[] {
  const t = runs?.[0];
  if (!runs || !t) return [];
  const signed = runs
    .map(
      (x) =>
        `${int(x.presigned)} in ${secs(x.signMs)} (${x.options.replicas} replica${x.options.replicas === 1 ? '' : 's'})`,
    )
    .join(', ');
  return [
    '',
    `- throughput load, per replica count: ${t.options.workers} worker_threads in the bench process, ${t.options.concurrency} ` +
      'HTTP/1.1 keep-alive requests in flight spread evenly over the replicas; faucet txs (amount 1, ' +
      `${t.options.keysPerWorker * t.options.workers} keys) pre-signed before the window: ${signed}; ` +
      `${t.options.warmupS} s warm-up (replicas ramp up while JIT warms and each replica imports every new signer's key once); ` +
      'committed = count(baton_txs with a height) at window end − start.' +
      (runs.some((x) => x.exhausted) ? ' WARNING: the pre-signed transactions ran out inside a window.' : ''),
    "- everything (PostgreSQL, replicas, load generator) shares this machine's cores: figures are for this box, not a cluster.",
  ];
}

/** One line when other users' work used the machine during the measured parts of the run. */
function contention(r: BenchResults): string[] {
  const seen: Array<[string, number | undefined]> = [
    ['graceful', r.graceful?.otherCpu?.mean],
    ['crash', r.crash?.otherCpu?.mean],
    ['hang', r.hang?.otherCpu?.mean],
    ['raw INSERT', r.rawInsert?.cpu[OTHERS]],
    ...(r.throughput ?? []).map((t): [string, number | undefined] => [
      `throughput (${t.options.replicas} replica${t.options.replicas === 1 ? '' : 's'})`,
      t.cpu[OTHERS],
    ]),
    ['upgrade (in place)', r.upgrade?.inPlace.otherCpu],
    ['upgrade (handover)', r.upgrade?.handover?.otherCpu],
    [
      'start',
      r.start
        ? Math.max(...[r.start.baseline, ...r.start.sizes].flatMap((x) => x.runs.map((y) => y.otherCpu)))
        : undefined,
    ],
    ['app throughput (token)', r.appThroughput?.token.cpu[OTHERS]],
    ['app throughput (names)', r.appThroughput?.app.cpu[OTHERS]],
    ['etcd3', r.etcd3?.otherCpu?.mean],
  ];
  const measured = seen.filter((x): x is [string, number] => x[1] !== undefined);
  if (!measured.some(([, v]) => v > 0.2)) return [];
  return [
    "- WARNING: other users' work shared the machine during this run; CPU of processes outside the " +
      `benchmark, mean cores: ${measured.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}. ` +
      'Above ~0.2 cores the figures are skewed: re-run on a quiet machine before quoting them.',
  ];
}

/** The table and the lines that say how it was produced, without a heading. */
export function reportBody(r: BenchResults, rows: Row[]): string {
  const m = r.machine;
  const lines = [
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB RAM; Node ${m.node}; ` +
      `PostgreSQL ${m.postgres} (embedded, one server for the run, default settings, fsync on); ` +
      (m.etcd ? `etcd ${m.etcd}; ` : '') +
      `machine busy before the run: ${m.busyBeforePct?.toFixed(0) ?? '?'}% (other users' work skews every figure)`,
    `- command: \`${r.command}\``,
    ...failoverSetup(r),
    ...etcdSetup(r.etcd3),
    ...contention(r),
    '',
    '| section | metric | Baton | baseline (same run) | target | verdict |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (x) => `| ${[x.section, x.metric, x.value, x.baseline, x.target, x.verdict].map(cell).join(' | ')} |`,
    ),
    ...throughputNotes(r.throughput),
  ];
  for (const t of r.throughput ?? []) if (t.profiles?.length) lines.push('', ...profileLines(t));
  return lines.join('\n');
}

export function markdown(r: BenchResults, rows: Row[]): string {
  return `## Baton benchmark, ${r.date}\n\n${reportBody(r, rows)}`;
}

function profileLines(t: ThroughputResult): string[] {
  const out = [
    `### Where replica CPU goes, ${t.options.replicas} replicas (V8 --cpu-prof, self time, idle excluded; each replica's whole life, ` +
      "including the warm-up in which it imports each new signer's public key once)",
  ];
  for (const p of [...(t.profiles ?? [])].sort((a, b) => a.replica.localeCompare(b.replica))) {
    const role = p.replica === t.leader ? 'leader' : 'follower';
    out.push(
      '',
      `**${p.replica}** (${role}, ${Math.round(p.busyMs)} ms busy). By code: ` +
        p.categories.map((c) => `${c.name} ${c.pct.toFixed(1)}%`).join(', '),
      '',
      '| self % | function |',
      '| --- | --- |',
      ...p.top.map((e) => `| ${e.pct.toFixed(1)} | ${cell(e.name)} |`),
    );
  }
  return out;
}

export async function writeJson(r: BenchResults, rows: Row[]): Promise<string> {
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  await mkdir(dir, { recursive: true });
  const path = `${dir}latest.json`;
  await writeFile(path, JSON.stringify({ ...r, rows }, null, 2) + '\n');
  return path;
}

export function machine(postgres: string): BenchResults['machine'] {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres,
  };
}
