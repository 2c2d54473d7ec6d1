import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { RawInsertResult } from './baseline-insert.js';
import type { CrashResult, HangResult } from './failover.js';
import type { LoadStats } from './load.js';
import type { RollingResult } from './rolling.js';
import { int, secs, type Row } from './rows.js';
import type { StreamsResult } from './streams.js';
import type { ThroughputResult } from './throughput.js';
import type { UpResult } from './up.js';
import type { LanesResult } from './lanes.js';
import type { HandoverResult } from './handover.js';

export interface BenchResults {
  date: string;
  command: string;
  options: { trials: number; hangTrials: number; durationS: number; warmupS: number; leaseTtlMs: number };
  machine: {
    cpu: string;
    cores: number;
    memoryGb: number;
    node: string;
    postgres: string;
    /** Machine-wide busy share over 1 s before the run started: other work on the box skews figures. */
    busyBeforePct?: number;
  };
  postgresStartMs?: number;
  crash?: CrashResult;
  hang?: HangResult;
  failoverLoad?: LoadStats & { ratePerSec: number };
  rawInsert?: RawInsertResult;
  throughput?: ThroughputResult;
  streams?: StreamsResult;
  rolling?: RollingResult;
  up?: UpResult;
  lanes?: LanesResult;
  handover?: HandoverResult;
  errors: Record<string, string>;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

export function markdown(r: BenchResults, rows: Row[]): string {
  const lines = [
    `## Baton benchmark, ${r.date}`,
    '',
    `- machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGb} GB RAM; Node ${r.machine.node}; ` +
      `PostgreSQL ${r.machine.postgres} (embedded, one server for the run, default settings, fsync on); ` +
      `machine busy before the run: ${r.machine.busyBeforePct?.toFixed(0) ?? '?'}% (other users' work skews every figure)`,
    `- command: \`${r.command}\``,
    ...(r.crash || r.hang
      ? [
          `- failover sections: 3 replicas, lease TTL ${r.options.leaseTtlMs} ms, lane "main", ${r.options.trials} crash / ${r.options.hangTrials} hang trials, ` +
            'failover = first sighting (blocks API of a surviving replica, polled every ~5 ms) of a block with a newer term by another producer',
        ]
      : []),
    '',
    '| section | metric | Baton | baseline (same run) | target | verdict |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (x) => `| ${[x.section, x.metric, x.value, x.baseline, x.target, x.verdict].map(cell).join(' | ')} |`,
    ),
  ];
  if (r.throughput) {
    const t = r.throughput;
    lines.push(
      '',
      `- throughput load: ${t.options.workers} worker_threads in the bench process, ${t.options.concurrency} HTTP/1.1 keep-alive ` +
        `requests in flight spread evenly over ${t.options.replicas} replicas; ${int(t.presigned)} faucet txs (amount 1, ` +
        `${t.options.keysPerWorker * t.options.workers} keys) pre-signed in ${secs(t.signMs)} before the window; ` +
        `${t.options.warmupS} s warm-up (replicas ramp up while JIT warms and each replica imports every new signer's key once); ` +
        'committed = count(baton_txs with a height) at window end − start.' +
        (t.exhausted ? ' WARNING: the pre-signed transactions ran out inside the window.' : ''),
      "- everything (PostgreSQL, replicas, load generator) shares this machine's cores: figures are for this box, not a cluster.",
    );
  }
  if (r.throughput?.profiles?.length) lines.push('', ...profileLines(r.throughput));
  return lines.join('\n');
}

function profileLines(t: ThroughputResult): string[] {
  const out = [
    "### Where replica CPU goes (V8 --cpu-prof, self time, idle excluded; each replica's whole life, " +
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
