import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import type { ReplicaProcess } from '../src/cluster/replica-process.js';

export const OTHERS = 'other processes (not the benchmark)';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
const USER_HZ = 100;

interface ProcStat {
  ppid: number;
  /** utime + stime, in seconds, of all the process's threads. */
  cpuSeconds: number;
}

function procStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), cpuSeconds: (Number(fields[11]) + Number(fields[12])) / USER_HZ };
  } catch {
    return null;
  }
}

/** `pid` and its direct children (a postmaster and its backends). */
export function withChildren(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  const out = [pid];
  try {
    for (const name of readdirSync('/proc')) {
      const child = Number(name);
      if (Number.isInteger(child) && procStat(child)?.ppid === pid) out.push(child);
    }
  } catch {
    // not Linux: no per-process accounting
  }
  return out;
}

function machineTicks(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((s, x) => s + x, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** CPU used per group of processes over an interval, in cores (1.0 = one core busy all the time). */
export type CpuUse = Record<string, number> & { machineBusy: number };

/**
 * Samples CPU time of named process groups (replicas, PostgreSQL, this process) at `start` and
 * `stop`. Group members are re-resolved at each sample; a process that exits between samples loses
 * its time, so groups should be long-lived processes (pool connections, replicas).
 */
export class CpuMeter {
  private begin: Map<number, number> = new Map();
  private beginSelf = 0;
  private beginMachine: { busy: number; total: number } | null = null;
  private beginAt = 0;

  constructor(private readonly groups: Record<string, () => number[]>) {}

  start(): void {
    this.begin = this.sampleAll();
    this.beginSelf = selfSeconds();
    this.beginMachine = machineTicks();
    this.beginAt = performance.now();
  }

  stop(): CpuUse {
    const seconds = (performance.now() - this.beginAt) / 1000;
    const end = this.sampleAll();
    const out: Record<string, number> = {};
    for (const [name, pids] of Object.entries(this.groups)) {
      let used = 0;
      for (const pid of pids()) {
        const a = this.begin.get(pid);
        const b = end.get(pid);
        if (b !== undefined) used += b - (a ?? b);
      }
      out[name] = used / seconds;
    }
    out['bench process (load generator)'] = (selfSeconds() - this.beginSelf) / seconds;
    const m0 = this.beginMachine;
    const m1 = machineTicks();
    const machineBusy = m0 && m1 && m1.total > m0.total ? (m1.busy - m0.busy) / (m1.total - m0.total) : NaN;
    // Whatever else ran on the machine meanwhile (other users' builds and tests skew the figures).
    const ours = Object.values(out).reduce((s, v) => s + v, 0);
    out[OTHERS] = Math.max(0, machineBusy * cpus().length - ours);
    return Object.assign(out, { machineBusy });
  }

  private sampleAll(): Map<number, number> {
    const out = new Map<number, number>();
    for (const pids of Object.values(this.groups)) {
      for (const pid of pids()) {
        const s = procStat(pid);
        if (s) out.set(pid, s.cpuSeconds);
      }
    }
    return out;
  }
}

/**
 * A CpuMeter of each replica of a cluster (named `replica <id>`, `(leader)` after the leader of
 * the measured lane) and of PostgreSQL with its backends.
 */
export function replicasCpuMeter(
  replicas: readonly ReplicaProcess[],
  leader: string,
  postgresPid: number | undefined,
): CpuMeter {
  return new CpuMeter({
    ...Object.fromEntries(
      replicas.map((r) => [
        `replica ${r.options.id}${r.options.id === leader ? ' (leader)' : ''}`,
        () => (r.pid ? [r.pid] : []),
      ]),
    ),
    postgres: () => withChildren(postgresPid),
  });
}

function selfSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Machine-wide busy share (0..1) over the next `ms` milliseconds. */
export async function machineBusyOver(ms: number): Promise<number> {
  const a = machineTicks();
  await new Promise((r) => setTimeout(r, ms));
  const b = machineTicks();
  return a && b && b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : NaN;
}

/** CPU seconds and parent of every process on the machine (Linux; empty elsewhere). */
function allProcesses(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  try {
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid)) continue;
      const s = procStat(pid);
      if (s) out.set(pid, s);
    }
  } catch {
    // not Linux
  }
  return out;
}

function treeOf(root: number, all: Map<number, ProcStat>): Set<number> {
  const tree = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, s] of all) {
      if (!tree.has(pid) && tree.has(s.ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return tree;
}

/**
 * CPU used by processes outside this benchmark's process tree (other users' builds and tests on a
 * shared machine), in cores over the interval: the figure that says whether a result is skewed.
 */
export class OthersMeter {
  private begin = new Map<number, ProcStat>();
  private at = 0;

  start(): void {
    this.begin = allProcesses();
    this.at = performance.now();
  }

  stop(): number {
    const seconds = (performance.now() - this.at) / 1000;
    const end = allProcesses();
    const ours = treeOf(process.pid, end);
    let used = 0;
    for (const [pid, s] of end) {
      if (ours.has(pid)) continue;
      const before = this.begin.get(pid);
      // A pid reused by a new process, or a process started meanwhile: count it from zero.
      used += before && before.cpuSeconds <= s.cpuSeconds ? s.cpuSeconds - before.cpuSeconds : s.cpuSeconds;
    }
    return used / seconds;
  }
}
