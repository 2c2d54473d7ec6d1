import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EmbeddedPostgres } from '../embedded/postgres.js';
import { createLogger } from '../log.js';
import { sleep } from '../time.js';
import { intOption, listOption, parse, UsageError } from './args.js';
import { assertPortFree, freePort } from './ports.js';
import { ReplicaProcess } from './replica-process.js';

export const UP_HELP = `baton up: a local cluster in the foreground: an embedded PostgreSQL and N replicas

usage: baton up [--replicas N] [--port P] [--data-dir D] [--lanes a,b] [--lease-ttl MS]

  --replicas N     number of replicas (default 3)
  --port P         replica i listens on port P+i-1 (default 7700)
  --data-dir D     where the database and logs live (default ./.baton)
  --lanes a,b      lanes to create (default main)
  --lease-ttl MS   lane lease time-to-live in milliseconds (default 3000)
  --ready-timeout S  seconds to wait for every replica to be ready (default 60)

Prints each replica's URL once all are ready, then leadership changes as they happen.
Replica logs (JSON lines) go to D/logs/. Ctrl-C or SIGTERM stops everything it started.`;

const SHOWN = new Set([
  'leading lane',
  'lane lost',
  'stopped leading lane',
  'commit fenced: a newer term exists',
]);

function describe(line: Record<string, unknown>): string | null {
  const msg = String(line['msg'] ?? '');
  const where = `${String(line['replica'] ?? '?').padEnd(4)}`;
  if (SHOWN.has(msg)) {
    const extra = line['reason']
      ? ` (${String(line['reason'])})`
      : line['exit']
        ? ` (${String(line['exit'])})`
        : '';
    return `${where} lane ${String(line['lane'])}: ${msg} term ${String(line['term'])}${extra}`;
  }
  if (line['level'] === 'error')
    return `${where} error: ${msg}${line['error'] ? `: ${String(line['error'])}` : ''}`;
  return null;
}

async function waitAllReady(
  replicas: ReplicaProcess[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(replicas);
  while (pending.size > 0 && !signal.aborted) {
    if (Date.now() > deadline) {
      throw new Error(
        `replicas not ready after ${timeoutMs / 1000} s: ${[...pending].map((r) => r.options.id).join(', ')}`,
      );
    }
    for (const r of [...pending]) {
      if (!r.running)
        throw new Error(`replica ${r.options.id} exited during start; see ${r.options.logFile}`);
      const ok = await fetch(`${r.url}/readyz`, { signal: AbortSignal.timeout(1_000) }).then(
        (res) => res.ok,
        () => false,
      );
      if (ok) pending.delete(r);
    }
    if (pending.size > 0) await sleep(50, signal);
  }
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
  for (let i = 0; i < count; i++) await assertPortFree(basePort + i);

  const logsDir = join(dataDir, 'logs');
  await mkdir(logsDir, { recursive: true });
  const quiet = createLogger({ component: 'up' }, { write: () => undefined });
  const postgres = new EmbeddedPostgres({ dir: dataDir, port: await freePort(), logger: quiet });
  const replicas: ReplicaProcess[] = [];
  const controller = new AbortController();
  let stopping = false;

  const shutdown = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    controller.abort();
    console.log('stopping replicas…');
    await Promise.all(replicas.map((r) => r.stop()));
    console.log('stopping PostgreSQL…');
    await postgres.stop();
    console.log('stopped.');
  };
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals > 1) {
      console.log('second signal: killing everything now');
      for (const r of replicas) if (r.pid) process.kill(r.pid, 'SIGKILL');
      void postgres.kill().finally(() => process.exit(1));
      return;
    }
    void shutdown().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    console.log(`baton up: ${count} replicas, lanes ${lanes.join(', ')}, data in ${dataDir}`);
    await postgres.start();
    for (let i = 1; i <= count; i++) {
      const id = `r${i}`;
      const replica = new ReplicaProcess({
        id,
        port: basePort + i - 1,
        databaseUrl: postgres.url,
        lanes,
        leaseTtlMs,
        logFile: join(logsDir, `${id}.log`),
        onLogLine: (line) => {
          const text = describe(line);
          if (text) console.log(text);
        },
        onExit: (code, signal) => {
          if (!stopping)
            console.log(
              `${id.padEnd(4)} exited (${signal ?? `code ${code}`}); see ${join(logsDir, `${id}.log`)}`,
            );
        },
      });
      replicas.push(replica);
      replica.start();
    }
    await waitAllReady(replicas, readyTimeoutMs, controller.signal);
    await writeFile(
      join(dataDir, 'cluster.json'),
      JSON.stringify(
        {
          pid: process.pid,
          databaseUrl: postgres.url,
          replicas: replicas.map((r) => ({ id: r.options.id, url: r.url, pid: r.pid })),
        },
        null,
        2,
      ) + '\n',
      { mode: 0o600 },
    );
    console.log(`PostgreSQL  ${postgres.url.replace(/:[^:@/]*@/, ':***@')}  (pid ${postgres.pid})`);
    for (const r of replicas) console.log(`${r.options.id.padEnd(10)}  ${r.url}  (pid ${r.pid})`);
    console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Ctrl-C stops everything.`);
  } catch (error) {
    await shutdown();
    throw error;
  }
}
