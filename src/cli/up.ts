import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LocalCluster } from '../cluster/local.js';
import { intOption, listOption, parse, UsageError } from './args.js';

export const UP_HELP = `baton up: a local cluster in the foreground: an embedded PostgreSQL and N replicas

usage: baton up [--replicas N] [--port P] [--data-dir D] [--lanes a,b] [--lease-ttl MS]

  --replicas N       number of replicas (default 3)
  --port P           replica i listens on port P+i-1 (default 7700)
  --data-dir D       where the database and logs live (default ./.baton)
  --lanes a,b        lanes to create (default main)
  --lease-ttl MS     lane lease time-to-live in milliseconds (default 3000)
  --ready-timeout S  seconds to wait for every replica to be ready (default 60)

Prints each replica's URL once all are ready, then leadership changes as they happen.
Replica logs (JSON lines) go to D/logs/. Ctrl-C or SIGTERM stops everything it started;
a second Ctrl-C kills everything at once.`;

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
      'lease-ttl': { type: 'string' },
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
  const started = Date.now();

  let stopping = false;
  const cluster = new LocalCluster({
    dataDir,
    replicas: count,
    basePort,
    lanes,
    leaseTtlMs,
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
    console.log(`baton up: ${count} replicas, lanes ${lanes.join(', ')}, data in ${dataDir}`);
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
