import { after, before } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { EmbeddedPostgres } from '../../src/embedded/postgres.js';
import { migrate } from '../../src/db/migrations.js';
import { freePort } from '../../src/ports.js';
import { silentLogger } from '../../src/log.js';

const TEMPLATE = 'baton_template';

/** A real PostgreSQL for one test file, with a migrated template database to clone per test. */
export class TestPostgres {
  private counter = 0;

  private constructor(
    readonly server: EmbeddedPostgres,
    private readonly dir: string,
  ) {}

  static async start(): Promise<TestPostgres> {
    const dir = await mkdtemp(join(tmpdir(), 'baton-test-pg-'));
    const server = new EmbeddedPostgres({
      dir,
      port: await freePort(),
      logger: silentLogger,
      // Tests need durability semantics, not speed records; keep fsync on.
      settings: { max_connections: 400 },
    });
    await server.start();
    const url = await server.createDatabase(TEMPLATE);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await migrate(client);
    } finally {
      await client.end();
    }
    return new TestPostgres(server, dir);
  }

  /** A new, migrated, empty database; returns its URL. */
  async database(): Promise<string> {
    this.counter++;
    return this.server.createDatabase(`t_${process.pid}_${this.counter}`, TEMPLATE);
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * A pool for a test's own queries. Its `end()` resolves before its connections have closed, so
 * a server stopped right after can still reach an idle one: without a listener that error would
 * crash the test file.
 */
export function testPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `fn` with a short-lived client on `url`. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface FileDatabase {
  /** The file's PostgreSQL (set once `before` has run). */
  server: TestPostgres;
  /** Run newest first after the file's tests, before PostgreSQL stops, also on failure. */
  cleanups: Array<() => Promise<unknown>>;
}

/** Registers the hooks for one PostgreSQL per test file and the cleanups to run before it stops. */
export function usePostgresPerFile(): FileDatabase {
  const file: FileDatabase = { server: undefined as unknown as TestPostgres, cleanups: [] };
  before(async () => {
    file.server = await TestPostgres.start();
  });
  after(async () => {
    for (const cleanup of file.cleanups.reverse()) await cleanup().catch(() => undefined);
    await (file.server as TestPostgres | undefined)?.stop();
  });
  return file;
}
