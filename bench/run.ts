/**
 * Baton benchmarks: failover after a SIGTERMed, killed or hung leader beside the etcd3 library's
 * election recipe on a real etcd, committed throughput with 1, 3 and 5 replicas beside the raw
 * INSERT rate of the same PostgreSQL (and on a user app's lane beside the token lane), streams,
 * rolling restarts, app upgrades, a replica's start against large lanes and `baton up` start
 * time, in one table. Everything runs on 127.0.0.1, is bounded in count and time, and every
 * process started is ended, also on failure or Ctrl-C. Usage: bench/options.ts (or
 * `npm run bench -- --help`).
 */
import { join } from 'node:path';
import { rawInsertBaseline } from './baseline-insert.js';
import { Cleanups, installSignalHandlers } from './cleanups.js';
import { BenchCluster } from './cluster.js';
import { BenchEnv, snapshotCli } from './env.js';
import { OthersMeter, machineBusyOver } from './cpu.js';
import { etcd3Section } from './etcd-failover.js';
import { crashSection, hangSection } from './failover.js';
import { gracefulSection } from './graceful.js';
import { assertSameAsSdk } from './keys.js';
import { SteadyLoad } from './load.js';
import { parseOptions, type BenchOptions, type Section } from './options.js';
import { note } from './progress.js';
import { writeReadme } from './readme.js';
import { machine, markdown, writeJson, type BenchResults } from './report.js';
import { buildRows } from './rows.js';
import { rollingSection } from './rolling.js';
import { streamsSection } from './streams.js';
import { throughputSection } from './throughput.js';
import { upSection } from './up.js';
import { lanesSection } from './lanes.js';
import { handoverSection } from './handover.js';
import { upgradeSection } from './upgrade.js';
import { startSection } from './start.js';
import { appThroughputSection } from './app-throughput.js';

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

/** Runs one section; a failure is recorded (a FAILED row) and the run goes on with the next one. */
async function attempt(results: BenchResults, name: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    results.errors[name] = message(error);
    note(`[${name}] failed: ${message(error)}`);
  }
}

/** Graceful, crash and hang trials on one 3-replica cluster under a light, steady SDK load. */
async function failoverSections(
  env: BenchEnv,
  cleanups: Cleanups,
  opts: BenchOptions,
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
    // Graceful first: its count of failed client requests is then not blurred by the SDK
    // retries of earlier crash or hang trials still in flight.
    if (opts.sections.has('graceful')) {
      await waitQuiet('graceful', opts.quietWaitS);
      await attempt(results, 'graceful', async () => {
        results.graceful = await gracefulSection(cluster, load, { trials: opts.trials, timeoutMs });
      });
    }
    if (opts.sections.has('crash')) {
      await waitQuiet('crash', opts.quietWaitS);
      await attempt(results, 'crash', async () => {
        results.crash = await crashSection(cluster, { trials: opts.trials, timeoutMs });
      });
    }
    if (opts.sections.has('hang')) {
      await waitQuiet('hang', opts.quietWaitS);
      await attempt(results, 'hang', async () => {
        try {
          results.hang = await hangSection(cluster, { trials: opts.hangTrials, timeoutMs });
        } catch (error) {
          for (const r of cluster.local.replicas) r.signal('SIGCONT');
          throw error;
        }
      });
    }
  } finally {
    results.failoverLoad = { ...(await load.stop()), ratePerSec: opts.rate };
    stopLoad();
    await cluster.stop();
  }
}

/** The load threads of the throughput and app-throughput sections (bench/load-worker.ts). */
const SATURATING_LOAD = {
  workers: 2,
  // Pre-signed for 10,000 tx/s over warm-up and window: 3 replicas pass 7,000 tx/s on a quiet
  // 2-core machine, and must not run out of transactions inside the window.
  presignRate: 10_000,
  keysPerWorker: 1000,
  sampleEvery: 50,
};

/** The raw INSERT ceiling, then Baton's committed rate with each replica count in turn. */
async function throughputSections(
  env: BenchEnv,
  cleanups: Cleanups,
  opts: BenchOptions,
  results: BenchResults,
): Promise<void> {
  await waitQuiet('throughput', opts.quietWaitS);
  await attempt(results, 'throughput baseline', async () => {
    results.rawInsert = await rawInsertBaseline(env, {
      durationS: opts.durationS,
      connections: 16,
      bodyBytes: 300,
    });
  });
  results.throughput = [];
  for (const replicas of opts.replicas) {
    await waitQuiet('throughput', opts.quietWaitS);
    await attempt(results, `throughput, ${replicas} replicas`, async () => {
      const run = await throughputSection(env, cleanups, {
        durationS: opts.durationS,
        warmupS: opts.warmupS,
        replicas,
        leaseTtlMs: opts.leaseTtlMs,
        lane: 'main',
        concurrency: opts.concurrency,
        ...SATURATING_LOAD,
        ...(opts.profile ? { profileDir: join(env.dir, 'profiles', String(replicas)) } : {}),
      });
      results.throughput!.push(run);
    });
  }
}

async function postgresSections(
  cleanups: Cleanups,
  cliPath: string,
  opts: BenchOptions,
  results: BenchResults,
): Promise<void> {
  note('starting the embedded PostgreSQL (one server for the whole run)');
  const env = await BenchEnv.start(cleanups, cliPath);
  results.machine = { ...machine(env.serverVersion), busyBeforePct: results.machine.busyBeforePct };
  results.postgresStartMs = env.startMs;
  let failed = false;
  try {
    if (['graceful', 'crash', 'hang'].some((s) => opts.sections.has(s as Section))) {
      await failoverSections(env, cleanups, opts, results);
    }
    if (opts.sections.has('throughput')) await throughputSections(env, cleanups, opts, results);
    if (opts.sections.has('app-throughput')) {
      await waitQuiet('app-throughput', opts.quietWaitS);
      await attempt(results, 'app-throughput', async () => {
        results.appThroughput = await appThroughputSection(env, cleanups, {
          durationS: opts.durationS,
          warmupS: opts.warmupS,
          replicas: 3,
          leaseTtlMs: opts.leaseTtlMs,
          concurrency: opts.concurrency,
          ...SATURATING_LOAD,
        });
      });
    }
    if (opts.sections.has('streams')) {
      await waitQuiet('streams', opts.quietWaitS);
      await attempt(results, 'streams', async () => {
        results.streams = await streamsSection(env, cleanups, {
          subscribers: opts.subscribers,
          warmupS: 2,
          durationS: opts.durationS,
          ratePerSec: opts.rate,
          leaseTtlMs: opts.leaseTtlMs,
          lane: 'main',
        });
      });
    }
    if (opts.sections.has('rolling')) {
      await waitQuiet('rolling', opts.quietWaitS);
      await attempt(results, 'rolling', async () => {
        results.rolling = await rollingSection(env, cleanups, {
          ratePerSec: opts.rate,
          leaseTtlMs: opts.leaseTtlMs,
          lane: 'main',
          settleS: 2,
        });
      });
    }
    if (opts.sections.has('handover')) {
      await waitQuiet('handover', opts.quietWaitS);
      await attempt(results, 'handover', async () => {
        results.handover = await handoverSection(env, cleanups, {
          trials: opts.handoverTrials,
          leaseTtlMs: opts.leaseTtlMs,
          ratePerLane: 100,
        });
      });
    }
    if (opts.sections.has('lanes')) {
      await waitQuiet('lanes', opts.quietWaitS);
      await attempt(results, 'lanes', async () => {
        results.lanes = await lanesSection(env, cleanups, {
          lanes: opts.lanes,
          replicas: 3,
          trials: opts.laneTrials,
          leaseTtlMs: opts.leaseTtlMs,
          windowS: 10,
        });
      });
    }
    if (opts.sections.has('upgrade')) {
      await waitQuiet('upgrade', opts.quietWaitS);
      await attempt(results, 'upgrade', async () => {
        results.upgrade = await upgradeSection(env, cleanups, {
          upgrades: opts.upgrades,
          handoverTrials: opts.upgradeHandoverTrials,
          leaseTtlMs: opts.leaseTtlMs,
          ratePerSec: opts.rate,
          settleMs: 1_500,
        });
      });
    }
    if (opts.sections.has('start')) {
      await waitQuiet('start', opts.quietWaitS);
      await attempt(results, 'start', async () => {
        results.start = await startSection(env, cleanups, { sizes: opts.startSizes, runs: opts.startRuns });
      });
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

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const cleanups = new Cleanups();
  const removeHandlers = installSignalHandlers(cleanups);
  const results: BenchResults = {
    date: new Date().toISOString(),
    command: `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    options: {
      trials: opts.trials,
      hangTrials: opts.hangTrials,
      etcdTrials: opts.etcdTrials,
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      leaseTtlMs: opts.leaseTtlMs,
      replicas: opts.replicas,
    },
    machine: machine('—'),
    errors: {},
  };
  const started = performance.now();
  try {
    await assertSameAsSdk();
    const cliPath = await snapshotCli(cleanups);
    results.machine.busyBeforePct = (await machineBusyOver(1000)) * 100;
    const needsPostgres = [
      'graceful',
      'crash',
      'hang',
      'throughput',
      'streams',
      'rolling',
      'handover',
      'lanes',
      'app-throughput',
      'upgrade',
      'start',
    ].some((s) => opts.sections.has(s as Section));
    if (needsPostgres) await postgresSections(cleanups, cliPath, opts, results);
    if (opts.sections.has('up')) {
      await waitQuiet('up', opts.quietWaitS);
      await attempt(results, 'up', async () => {
        results.up = await upSection(cleanups, cliPath);
      });
    }
    // Last: with the library's default 60 s lease it is the longest section by far.
    if (opts.sections.has('etcd3')) {
      await waitQuiet('etcd3', opts.quietWaitS);
      await attempt(results, 'etcd3', async () => {
        results.etcd3 = await etcd3Section(cleanups, {
          trials: opts.etcdTrials,
          candidates: opts.candidates,
          ttlS: opts.etcdTtlS,
        });
        results.machine.etcd = results.etcd3.etcdVersion;
      });
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
  const failed = Object.keys(results.errors).length > 0;
  if (opts.writeReadme) {
    if (failed) note('README.md left as it was: a section failed (see the FAILED rows)');
    else note(`wrote the table into ${await writeReadme(results, rows)}`);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(message(error));
    process.exit(2);
  },
);
