import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LocalCluster } from '../cluster/local.js';
import { AppRegistry, isAppPath } from '../apps/registry.js';
import { intOption, listOption, parse, UsageError } from './args.js';

export const UP_HELP = `baton up: a local cluster in the foreground: an embedded PostgreSQL and N replicas

usage: baton up [--replicas N] [--port P] [--data-dir D] [--lanes a,b] [options]

  --replicas N         number of replicas (default 3)
  --port P             replica i listens on port P+i-1 (default 7700)
  --data-dir D         where the database and logs live (default ./.baton)
  --lanes a,b          lanes to create (default main)
  --app SPEC           load an app module on every replica (a file path or a package name;
                       repeatable): see baton node --help
  --verify-blocks      every replica re-executes every block and reports mismatches
  --lease-ttl MS       lane lease time-to-live in milliseconds (default 3000)
  --mode M             active-active (default) or active-passive
  --priorities p1,p2   leadership priority of r1, r2, … (default all 0)
  --stall-timeout MS   a leader with pending transactions and no commit for this long gives
                       its lanes up and reports unhealthy (default 10000)
  --no-watchdog        do not restart replicas that exit or fail their liveness check
  --ready-timeout S    seconds to wait for every replica to be ready (default 60)

Prints each replica's URL once all are ready, then leadership changes as they happen.
The watchdog restarts a replica that exits (other than after a drain) or fails /livez three
times in a row, after 0.5 s doubling up to 30 s, and gives up on one that restarts 5 times
within a minute. Replica logs (JSON lines) go to D/logs/. Ctrl-C or SIGTERM stops everything
it started; a second Ctrl-C kills everything at once.`;

const SHOWN = new Set([
  'leading lane',
  'lane lost',
  'stopped leading lane',
  'commit fenced: a newer term exists',
]);

/** One human line for the log events worth showing in the foreground, else null. */
export function describeLogLine(line: Record<string, unknown>): string | null {
  const text = (key: string): string => {
    const value = line[key];
    return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
  };
  const msg = text('msg');
  const who = (text('replica') || '?').padEnd(4);
  if (SHOWN.has(msg)) {
    const why = text('reason') || text('exit');
    return `${who} lane ${text('lane')}: ${msg}, term ${text('term')}${why ? ` (${why})` : ''}`;
  }
  if (line['level'] === 'error') return `${who} error: ${msg}${text('error') ? `: ${text('error')}` : ''}`;
  return null;
}

export async function upCommand(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      replicas: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      lanes: { type: 'string' },
      app: { type: 'string', multiple: true },
      'verify-blocks': { type: 'boolean' },
      'lease-ttl': { type: 'string' },
      mode: { type: 'string' },
      priorities: { type: 'string' },
      'stall-timeout': { type: 'string' },
      'no-watchdog': { type: 'boolean' },
      'ready-timeout': { type: 'string' },
    },
    'up',
  );
  if (values.help) {
    console.log(UP_HELP);
    return;
  }
  const count = intOption(values.replicas, 'replicas', 3, 1, 64);
  const basePort = intOption(values.port, 'port', 7700, 1, 65_535 - count);
  const dataDir = resolve(values['data-dir'] ?? '.baton');
  const lanes = listOption(values.lanes, ['main']);
  if (lanes.length === 0) throw new UsageError('--lanes needs at least one lane');
  const leaseTtlMs = intOption(values['lease-ttl'], 'lease-ttl', 3_000, 300, 600_000);
  const readyTimeoutMs = intOption(values['ready-timeout'], 'ready-timeout', 60, 1, 3_600) * 1000;
  const mode = values.mode ?? 'active-active';
  if (mode !== 'active-active' && mode !== 'active-passive')
    throw new UsageError('--mode must be active-active or active-passive');
  const priorities = listOption(values.priorities, []);
  if (priorities.length > count || priorities.some((p) => !/^-?\d{1,7}$/.test(p)))
    throw new UsageError(`--priorities takes at most ${count} whole numbers, one per replica`);
  const replicaArgs = ['--mode', mode];
  // Paths are resolved here, so the replicas load the same files whatever their directory; and
  // loaded here once, so a module that is not an app stops this command before anything starts.
  const appSpecs = (values.app ?? []).map((spec) => (isAppPath(spec) ? resolve(spec) : spec));
  const apps = await AppRegistry.load(appSpecs).catch((error: unknown) => {
    throw new UsageError((error as Error).message);
  });
  for (const spec of appSpecs) replicaArgs.push('--app', spec);
  if (values['verify-blocks']) replicaArgs.push('--verify-blocks');
  if (values['stall-timeout'] !== undefined) {
    intOption(values['stall-timeout'], 'stall-timeout', 10_000, 100, 3_600_000);
    replicaArgs.push('--stall-timeout', values['stall-timeout']);
  }
  const started = Date.now();

  let stopping = false;
  const cluster = new LocalCluster({
    dataDir,
    replicas: count,
    basePort,
    lanes,
    leaseTtlMs,
    replicaArgs,
    argsFor: (id) => {
      const priority = priorities[Number(id.slice(1)) - 1];
      return priority === undefined ? [] : ['--priority', priority];
    },
    ...(values['no-watchdog'] ? {} : { watchdog: {} }),
    onLogLine: (line) => {
      const text = describeLogLine(line);
      if (text) console.log(text);
    },
    onExit: (id, code, signal) => {
      if (!stopping)
        console.log(
          `${id.padEnd(4)} exited (${signal ?? `code ${code}`}); see ${join(cluster.logsDir, `${id}.log`)}`,
        );
    },
  });
  cluster.watchdog?.events.on('restart', ({ id, cause, attempt, delayMs }) =>
    console.log(`${id.padEnd(4)} watchdog: ${cause}; restart ${attempt} in ${(delayMs / 1000).toFixed(1)} s`),
  );
  cluster.watchdog?.events.on('unhealthy', ({ id, cause }) =>
    console.log(`${id.padEnd(4)} watchdog: ${cause}; killing it`),
  );
  cluster.watchdog?.events.on('gave-up', ({ id, cause, restarts, windowMs }) =>
    console.log(
      `${id.padEnd(4)} watchdog: ${cause}; crash-looping (${restarts} restarts within ${windowMs / 1000} s), not restarting it again`,
    ),
  );
  const controller = new AbortController();
  const shutdown = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    controller.abort();
    console.log('stopping replicas and PostgreSQL…');
    await cluster.stop();
    console.log('stopped.');
  };
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) {
      console.log('second signal: killing everything now');
      void cluster.kill().finally(() => process.exit(1));
      return;
    }
    void shutdown().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const appList = Object.entries(apps.describe()).map(([name, v]) => `${name} ${v.join('/')}`);
    console.log(
      `baton up: ${count} replicas (${mode}), lanes ${lanes.join(', ')}, apps ${appList.join(', ')}, data in ${dataDir}`,
    );
    await cluster.start();
    await cluster.waitReady(readyTimeoutMs, controller.signal);
    const replicas = cluster.replicas.map((r) => ({ id: r.options.id, url: r.url, pid: r.pid }));
    await writeFile(
      join(dataDir, 'cluster.json'),
      JSON.stringify({ pid: process.pid, replicas }, null, 2) + '\n',
    );
    console.log(
      `PostgreSQL  ${cluster.databaseUrl.replace(/:[^:@/]*@/, ':***@')}  (pid ${cluster.postgres?.pid})`,
    );
    for (const r of replicas) console.log(`${r.id.padEnd(10)}  ${r.url}  (pid ${r.pid})`);
    console.log(`admin token in ${cluster.adminTokenFile} (Authorization: Bearer …)`);
    console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Ctrl-C stops everything.`);
  } catch (error) {
    await shutdown();
    throw error;
  }
}
