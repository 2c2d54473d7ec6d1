import { chmod, cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { EmbeddedPostgres } from '../src/embedded/postgres.js';
import { silentLogger } from '../src/log.js';
import type { Cleanups } from './cleanups.js';

/**
 * A private copy of the built sources for this run, so that replicas started later in the run
 * (restarts, new clusters, `baton up`) run the same code even if someone rebuilds dist/ meanwhile.
 * It lives under bench/results/ (git-ignored) so that node_modules and package.json still resolve.
 * Returns the CLI entry inside the copy (the built CLI: replicas run exactly what users run).
 */
export async function snapshotCli(cleanups: Cleanups): Promise<string> {
  const dir = fileURLToPath(new URL(`../../bench/results/.dist-${process.pid}/`, import.meta.url));
  cleanups.add('dist snapshot', () => rm(dir, { recursive: true, force: true }));
  await cp(fileURLToPath(new URL('../src/', import.meta.url)), join(dir, 'src'), { recursive: true });
  return join(dir, 'src', 'cli', 'main.js');
}

/**
 * The one embedded PostgreSQL of a benchmark run, in a temporary directory, with a fresh
 * database per scenario. Default server settings (fsync on): durability is what is measured.
 */
export class BenchEnv {
  private counter = 0;

  private constructor(
    readonly dir: string,
    /** The `baton` CLI entry replicas are started with. */
    readonly cliPath: string,
    readonly postgres: EmbeddedPostgres,
    /** Wall time to create (initdb) and start the server: the baseline of the `up` section. */
    readonly startMs: number,
    readonly serverVersion: string,
    private readonly unregister: () => void,
  ) {}

  static async start(cleanups: Cleanups, cliPath: string): Promise<BenchEnv> {
    const dir = await mkdtemp(join(tmpdir(), 'baton-bench-'));
    // As root the server runs as "postgres", which must be able to enter this directory.
    await chmod(dir, 0o755);
    const removeDir = cleanups.add('temporary directory', () => rm(dir, { recursive: true, force: true }));
    const postgres = new EmbeddedPostgres({ dir: join(dir, 'pg'), port: 0, logger: silentLogger });
    const unregister = cleanups.add('embedded PostgreSQL', () => postgres.kill());
    const started = performance.now();
    await postgres.start();
    const startMs = performance.now() - started;
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    await client.end();
    return new BenchEnv(dir, cliPath, postgres, startMs, rows[0]?.v ?? '?', () => {
      unregister();
      removeDir();
    });
  }

  /** A new empty database; returns its URL. Replicas migrate it when they start. */
  async database(prefix: string): Promise<string> {
    this.counter++;
    return this.postgres.createDatabase(`bench_${prefix}_${process.pid}_${this.counter}`);
  }

  /** A directory for one scenario's replica logs. */
  async scenarioDir(name: string): Promise<string> {
    const path = join(this.dir, 'scenarios', `${name}-${++this.counter}`);
    await mkdir(path, { recursive: true });
    return path;
  }

  /** The postmaster's pid, for CPU accounting. */
  get postgresPid(): number | undefined {
    return this.postgres.pid;
  }

  async stop(keepDir = false): Promise<void> {
    await this.postgres.stop();
    this.unregister();
    if (!keepDir) await rm(this.dir, { recursive: true, force: true });
  }
}
