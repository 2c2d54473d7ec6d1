/**
 * Baton benchmarks: failover after a killed or hung leader, committed throughput beside the raw
 * INSERT rate of the same PostgreSQL, and `baton up` start time. Everything runs on 127.0.0.1,
 * is bounded in count and time, and every process started is ended, also on failure or Ctrl-C.
 *
 *   node dist/bench/run.js [crash] [hang] [throughput] [streams] [rolling] [up] [--trials N] [--duration S]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { rawInsertBaseline } from './baseline-insert.js';
import { Cleanups, installSignalHandlers } from './cleanups.js';
import { BenchCluster } from './cluster.js';
import { BenchEnv, snapshotCli } from './env.js';
import { OthersMeter, machineBusyOver } from './cpu.js';
import { crashSection, hangSection } from './failover.js';
import { assertSameAsSdk } from './keys.js';
import { SteadyLoad } from './load.js';
import { note } from './progress.js';
import { machine, markdown, writeJson, type BenchResults } from './report.js';
import { buildRows } from './rows.js';
import { rollingSection } from './rolling.js';
import { streamsSection } from './streams.js';
import { throughputSection } from './throughput.js';
import { lanesSection } from './lanes.js';
import { handoverSection } from './handover.js';
import { upSection } from './up.js';

const SECTIONS = ['crash', 'hang', 'throughput', 'streams', 'rolling', 'up', 'lanes', 'handover'] as const;
type Section = (typeof SECTIONS)[number];

const USAGE = `usage: node dist/bench/run.js [${SECTIONS.join('|')} ...] [options]

  --trials N        crash trials (default 20)
  --hang-trials N   hang trials (default min(5, trials))
  --duration S      throughput window in seconds (default 10; the raw INSERT baseline uses the same);
                    also the load window of the streams section
  --subscribers N   SDK block subscribers in the streams section (default 100)
  --warmup S        load before the throughput window opens (default 5)
  --lease-ttl MS    lane lease TTL of the failover clusters (default 3000)
  --rate R          light load during failovers, the streams and the rolling restarts, tx/s (default 200)
  --quiet-wait S    before each section, wait up to S seconds for other work on the machine to
                    settle (other processes under 0.15 cores over 1 s); 0 disables (default 20)
  --concurrency C   HTTP requests in flight in the throughput section (default 96)
  --lanes N         lanes of the lanes section (default 1000)
  --lane-trials N   SIGKILL trials of the lanes section (default 5)
  --handover-trials N  operator handovers, priority changes and joins measured (default 10 each)
  --keep            keep the temporary directory (replica and PostgreSQL logs) and print its path
  --profile         run the throughput replicas under --cpu-prof and summarise where their CPU goes
                    (profiling slows them down: use it to explain figures, not to report them)`;

function positiveInt(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be an integer in 1..${max}`);
  return n;
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      trials: { type: 'string' },
      'hang-trials': { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'lease-ttl': { type: 'string' },
      rate: { type: 'string' },
      'quiet-wait': { type: 'string' },
      concurrency: { type: 'string' },
      subscribers: { type: 'string' },
      lanes: { type: 'string' },
      'lane-trials': { type: 'string' },
      'handover-trials': { type: 'string' },
      keep: { type: 'boolean' },
      profile: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  for (const p of positionals) {
    if (!(SECTIONS as readonly string[]).includes(p)) throw new Error(`unknown section "${p}"\n\n${USAGE}`);
  }
  const trials = positiveInt(values.trials, 'trials', 20, 1000);
  return {
    sections: new Set<Section>(positionals.length > 0 ? (positionals as Section[]) : SECTIONS),
    trials,
    hangTrials: positiveInt(values['hang-trials'], 'hang-trials', Math.min(5, trials), 100),
    durationS: positiveInt(values.duration, 'duration', 10, 600),
    warmupS: positiveInt(values.warmup, 'warmup', 5, 600),
    leaseTtlMs: positiveInt(values['lease-ttl'], 'lease-ttl', 3000, 60_000),
    rate: positiveInt(values.rate, 'rate', 200, 5000),
    quietWaitS: values['quiet-wait'] === '0' ? 0 : positiveInt(values['quiet-wait'], 'quiet-wait', 20, 600),
    concurrency: positiveInt(values.concurrency, 'concurrency', 96, 1024),
    subscribers: positiveInt(values.subscribers, 'subscribers', 100, 1000),
    lanes: positiveInt(values.lanes, 'lanes', 1000, 10_000),
    laneTrials: positiveInt(values['lane-trials'], 'lane-trials', 5, 100),
    handoverTrials: positiveInt(values['handover-trials'], 'handover-trials', 10, 100),
    keep: values.keep === true,
    profile: values.profile === true,
  };
}

/** CPU used by processes outside the benchmark over the next second, in cores. */
async function othersOverOneSecond(): Promise<number> {
  const meter = new OthersMeter();
  meter.start();
  await new Promise((r) => setTimeout(r, 1000));
  return meter.stop();
}

/** Waits (bounded) until other users' work on the machine settles: it skews every figure. */
async function waitQuiet(label: string, maxS: number): Promise<void> {
  const deadline = Date.now() + maxS * 1000;
  for (let others = await othersOverOneSecond(); others > 0.15; others = await othersOverOneSecond()) {
    if (Date.now() > deadline) {
      note(`[${label}] other processes still use ${others.toFixed(2)} cores; going on`);
      return;
    }
    note(`[${label}] waiting for other work on the machine to settle (${others.toFixed(2)} cores busy)`);
  }
}

const message = (error: unknown): string =>
  error instanceof Error ? (error.stack ?? error.message) : String(error);

async function failoverSections(
  env: BenchEnv,
  cleanups: Cleanups,
  opts: ReturnType<typeof parse>,
  results: BenchResults,
): Promise<void> {
  note(`[failover] starting 3 replicas (lease TTL ${opts.leaseTtlMs} ms) and a ~${opts.rate} tx/s SDK load`);
  const cluster = await BenchCluster.start(env, cleanups, {
    name: 'failover',
    replicas: 3,
    leaseTtlMs: opts.leaseTtlMs,
    lane: 'main',
  });
  const load = new SteadyLoad({
    urls: cluster.urls,
    lane: 'main',
    ratePerSec: opts.rate,
    maxInFlight: Math.max(100, opts.rate * 3),
    keys: 500,
  });
  const stopLoad = cleanups.add('failover load', () => void load.stop());
  const timeoutMs = opts.leaseTtlMs * 3 + 10_000;
  try {
    await cluster.database(); // connected before the first trial, so it is not timed
    load.start();
    if (opts.sections.has('crash')) {
      await waitQuiet('crash', opts.quietWaitS);
      try {
        results.crash = await crashSection(cluster, { trials: opts.trials, timeoutMs });
      } catch (error) {
        results.errors['crash'] = message(error);
        note(`[crash] failed: ${message(error)}`);
      }
    }
    if (opts.sections.has('hang')) {
      await waitQuiet('hang', opts.quietWaitS);
      try {
        results.hang = await hangSection(cluster, { trials: opts.hangTrials, timeoutMs });
      } catch (error) {
        for (const r of cluster.local.replicas) r.signal('SIGCONT');
        results.errors['hang'] = message(error);
        note(`[hang] failed: ${message(error)}`);
      }
    }
  } finally {
    results.failoverLoad = { ...(await load.stop()), ratePerSec: opts.rate };
    stopLoad();
    await cluster.stop();
  }
}

async function main(): Promise<number> {
  const opts = parse(process.argv.slice(2));
  const cleanups = new Cleanups();
  const removeHandlers = installSignalHandlers(cleanups);
  const results: BenchResults = {
    date: new Date().toISOString(),
    command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    options: {
      trials: opts.trials,
      hangTrials: opts.hangTrials,
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      leaseTtlMs: opts.leaseTtlMs,
    },
    machine: machine('—'),
    errors: {},
  };
  const started = performance.now();
  try {
    await assertSameAsSdk();
    const cliPath = await snapshotCli(cleanups);
    results.machine.busyBeforePct = (await machineBusyOver(1000)) * 100;
    const needsPostgres = ['crash', 'hang', 'throughput', 'streams', 'rolling', 'lanes', 'handover'].some(
      (s) => opts.sections.has(s as Section),
    );
    if (needsPostgres) {
      note('starting the embedded PostgreSQL (one server for the whole run)');
      const env = await BenchEnv.start(cleanups, cliPath);
      results.machine = { ...machine(env.serverVersion), busyBeforePct: results.machine.busyBeforePct };
      results.postgresStartMs = env.startMs;
      let failed = false;
      try {
        if (opts.sections.has('crash') || opts.sections.has('hang')) {
          await failoverSections(env, cleanups, opts, results);
        }
        if (opts.sections.has('throughput')) {
          await waitQuiet('throughput', opts.quietWaitS);
          try {
            results.rawInsert = await rawInsertBaseline(env, {
              durationS: opts.durationS,
              connections: 16,
              bodyBytes: 300,
            });
          } catch (error) {
            results.errors['throughput baseline'] = message(error);
            note(`[throughput] baseline failed: ${message(error)}`);
          }
          await waitQuiet('throughput', opts.quietWaitS);
          try {
            results.throughput = await throughputSection(env, cleanups, {
              durationS: opts.durationS,
              warmupS: opts.warmupS,
              replicas: 3,
              leaseTtlMs: opts.leaseTtlMs,
              lane: 'main',
              concurrency: opts.concurrency,
              workers: 2,
              presignRate: 6000,
              keysPerWorker: 1000,
              sampleEvery: 50,
              ...(opts.profile ? { profileDir: join(env.dir, 'profiles') } : {}),
            });
          } catch (error) {
            results.errors['throughput'] = message(error);
            note(`[throughput] failed: ${message(error)}`);
          }
        }
        if (opts.sections.has('streams')) {
          await waitQuiet('streams', opts.quietWaitS);
          try {
            results.streams = await streamsSection(env, cleanups, {
              subscribers: opts.subscribers,
              durationS: opts.durationS,
              ratePerSec: opts.rate,
              leaseTtlMs: opts.leaseTtlMs,
              lane: 'main',
            });
          } catch (error) {
            results.errors['streams'] = message(error);
            note(`[streams] failed: ${message(error)}`);
          }
        }
        if (opts.sections.has('rolling')) {
          await waitQuiet('rolling', opts.quietWaitS);
          try {
            results.rolling = await rollingSection(env, cleanups, {
              ratePerSec: opts.rate,
              leaseTtlMs: opts.leaseTtlMs,
              lane: 'main',
              settleS: 2,
            });
          } catch (error) {
            results.errors['rolling'] = message(error);
            note(`[rolling] failed: ${message(error)}`);
          }
        }
        if (opts.sections.has('lanes')) {
          await waitQuiet('lanes', opts.quietWaitS);
          try {
            results.lanes = await lanesSection(env, cleanups, {
              lanes: opts.lanes,
              replicas: 3,
              trials: opts.laneTrials,
              leaseTtlMs: opts.leaseTtlMs,
              windowS: 10,
            });
          } catch (error) {
            results.errors['lanes'] = message(error);
            note(`[lanes] failed: ${message(error)}`);
          }
        }
        if (opts.sections.has('handover')) {
          await waitQuiet('handover', opts.quietWaitS);
          try {
            results.handover = await handoverSection(env, cleanups, {
              trials: opts.handoverTrials,
              leaseTtlMs: opts.leaseTtlMs,
              ratePerLane: 50,
            });
          } catch (error) {
            results.errors['handover'] = message(error);
            note(`[handover] failed: ${message(error)}`);
          }
        }
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        const keep = opts.keep || failed || Object.keys(results.errors).length > 0;
        if (keep) note(`logs kept in ${env.dir}`);
        await env.stop(keep);
      }
    }
    if (opts.sections.has('up')) {
      await waitQuiet('up', opts.quietWaitS);
      try {
        results.up = await upSection(cleanups, cliPath);
      } catch (error) {
        results.errors['up'] = message(error);
        note(`[up] failed: ${message(error)}`);
      }
    }
  } catch (error) {
    results.errors['run'] = message(error);
    note(`benchmark failed: ${message(error)}`);
  } finally {
    await cleanups.runAll();
    removeHandlers();
  }
  const rows = buildRows(results);
  console.log(markdown(results, rows));
  const path = await writeJson(results, rows);
  note(`\nwrote ${path} (${((performance.now() - started) / 1000).toFixed(0)} s in all)`);
  return Object.keys(results.errors).length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(message(error));
    process.exit(2);
  },
);
