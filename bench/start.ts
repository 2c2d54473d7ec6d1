import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { freePort } from '../src/ports.js';
import { settlesWithin, sleep } from '../src/time.js';
import type { Cleanups } from './cleanups.js';
import { OthersMeter } from './cpu.js';
import type { BenchEnv } from './env.js';
import { Probe } from './probe.js';
import { Progress } from './progress.js';
import { fixtureAccount, prepareTokenLane, type LaneFixture } from './state-fixture.js';

export interface StartOptions {
  /** State key counts of the prepared lanes (each with as many blocks); an empty lane is the baseline. */
  sizes: number[];
  /** Starts per size, one after the other on the same database. */
  runs: number;
}

export interface StartRun {
  /** Spawn → first 200 from /readyz (polled every 20 ms). */
  readyMs: number;
  /** Spawn → first 200 from GET /v1/lanes/{lane}/state/{key} of a random existing key. */
  stateMs: number;
  /** Spawn → first 200 from GET /v1/lanes/{lane}/query/balance for the same account. */
  queryMs: number;
  /** VmRSS of the replica process when /readyz first answered 200, and after both reads answered. */
  rssAtReadyMb: number;
  rssAfterReadsMb: number;
  /** VmHWM: the process's peak resident set so far, read after both reads answered. */
  peakRssMb: number;
  /** SIGTERM → exit. */
  stopMs: number;
  /** CPU used by processes outside the benchmark from spawn to the last read, cores. */
  otherCpu: number;
  /** What the replica's "lane state loaded" log line said: keys held in memory, and whether all. */
  loaded: { keys: number; whole: boolean } | null;
}

export interface StartSize extends LaneFixture {
  runs: StartRun[];
}

export interface StartResult {
  options: StartOptions;
  /** The empty lane: the baseline of every size. */
  baseline: StartSize;
  sizes: StartSize[];
}

const LANE = 'main';
const TIMEOUT_MS = 120_000;
const POLL_MS = 20;

/** VmRSS and VmHWM of `pid`, in MB (NaN where /proc does not tell). */
async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** One `baton node` start against the prepared database, from spawn until it serves reads. */
async function startOnce(
  cliPath: string,
  databaseUrl: string,
  id: string,
  account: number,
  /** What the state read must answer (null: no such key). */
  expectedState: number | null,
  cleanups: Cleanups,
): Promise<StartRun> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const probe = new Probe();
  const others = new OthersMeter();
  others.start();
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      cliPath,
      'node',
      '--database-url',
      databaseUrl,
      '--id',
      id,
      '--port',
      String(port),
      '--lanes',
      LANE,
      '--drain-grace',
      '0',
      // It stops when its stdin closes: when the bench process goes away, even by SIGKILL.
      '--watch-parent',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const unregister = cleanups.add(`replica ${id}`, () => void child.kill('SIGKILL'));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const keep = (d: Buffer | string) => (output = (output + d.toString()).slice(-4000));
  child.stderr.on('data', keep);
  let loaded: StartRun['loaded'] = null;
  createInterface({ input: child.stdout }).on('line', (line) => {
    keep(`${line}\n`);
    if (!line.includes('"lane state loaded"')) return;
    try {
      const log = JSON.parse(line) as { keys?: unknown; whole?: unknown };
      if (typeof log.keys === 'number') loaded = { keys: log.keys, whole: log.whole === true };
    } catch {
      // not a log line
    }
  });
  let gone = false;
  void exited.then(() => (gone = true));
  const pid = child.pid!;

  const hex = fixtureAccount(account);
  const lane = encodeURIComponent(LANE);
  const statePath = `/v1/lanes/${lane}/state/${encodeURIComponent(`balance:${hex}`)}`;
  const queryPath = `/v1/lanes/${lane}/query/balance?args=${encodeURIComponent(JSON.stringify({ account: hex }))}`;
  let rssAtReady = NaN;
  /** Spawn → the first 200 of `path`, polled every 20 ms; `check` validates that answer's body. */
  const firstOk = async (path: string, check: (body: unknown) => void, onOk?: () => Promise<void>) => {
    while (performance.now() - started < TIMEOUT_MS) {
      if (gone) throw new Error(`the replica exited before ${path} answered 200`);
      const answer = await probe.get<unknown>(`${url}${path}`, 5_000).catch(() => null);
      if (answer?.status === 200) {
        const ms = performance.now() - started;
        await onOk?.();
        check(answer.body);
        return ms;
      }
      await sleep(POLL_MS);
    }
    throw new Error(`${path} did not answer 200 within ${TIMEOUT_MS} ms`);
  };
  const expected = account % 1000;
  try {
    const [readyMs, stateMs, queryMs] = await Promise.all([
      firstOk(
        '/readyz',
        () => undefined,
        async () => {
          rssAtReady = (await memoryOf(pid)).rss;
        },
      ),
      firstOk(statePath, (body) => {
        const value = (body as { value?: unknown } | null)?.value ?? null;
        if (value !== expectedState)
          throw new Error(`state read: ${JSON.stringify(body)}, expected ${expectedState}`);
      }),
      firstOk(queryPath, (body) => {
        const result = (body as { result?: unknown } | null)?.result;
        if (result !== expected)
          throw new Error(`balance query: ${JSON.stringify(body)}, expected ${expected}`);
      }),
    ]);
    const after = await memoryOf(pid);
    const otherCpu = others.stop();
    const stopping = performance.now();
    child.kill('SIGTERM');
    if (!(await settlesWithin(exited, 15_000))) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`replica ${id} did not exit within 15 s of SIGTERM`);
    }
    const stopMs = performance.now() - stopping;
    return {
      readyMs,
      stateMs,
      queryMs,
      rssAtReadyMb: rssAtReady,
      rssAfterReadsMb: after.rss,
      peakRssMb: after.hwm,
      stopMs,
      otherCpu,
      loaded,
    };
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; replica output:\n${output}`, {
      cause: error,
    });
  } finally {
    if (!gone) {
      child.kill('SIGKILL');
      await exited;
    }
    unregister();
    probe.close();
  }
}

/**
 * Start-up of one replica process against lanes of growing state: spawn → ready, → first state
 * read and balance query answered, and its resident memory, beside the same start against an
 * empty lane in the same run.
 */
export async function startSection(env: BenchEnv, cleanups: Cleanups, o: StartOptions): Promise<StartResult> {
  const progress = new Progress('start');
  const measure = async (keys: number): Promise<StartSize> => {
    const label = keys === 0 ? 'empty lane' : `${keys.toLocaleString('en-US')} keys`;
    progress.update(`${label}: preparing the database by SQL`);
    const url = await env.database(`start_${keys}`);
    const fixture = await prepareTokenLane(url, LANE, keys, keys);
    const runs: StartRun[] = [];
    for (let run = 1; run <= o.runs; run++) {
      progress.update(`${label}: start ${run}/${o.runs}`);
      // A random existing account; the empty lane has none: any account (no key, balance 0) will do.
      const account = keys === 0 ? 1000 : 1 + Math.floor(Math.random() * keys);
      const state = keys === 0 ? null : account % 1000;
      runs.push(await startOnce(env.cliPath, url, `s${keys}-${run}`, account, state, cleanups));
    }
    progress.update(
      `${label}: ready in ${runs.map((r) => `${Math.round(r.readyMs)} ms`).join(', ')}, ` +
        `RSS ${runs.map((r) => `${Math.round(r.rssAtReadyMb)} MB`).join(', ')}`,
    );
    return { ...fixture, runs };
  };
  const baseline = await measure(0);
  const sizes: StartSize[] = [];
  for (const keys of o.sizes) sizes.push(await measure(keys));
  progress.done();
  return { options: o, baseline, sizes };
}
