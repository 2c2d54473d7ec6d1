import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCluster, isReady, type LocalClusterOptions } from '../../src/cluster/local.js';
import { waitUntil } from './wait.js';

/** The built CLI: replica processes run exactly what users run. `npm test` builds first. */
export const CLI_ENTRY = [fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url))];

export interface TestClusterOptions extends Partial<LocalClusterOptions> {
  databaseUrl: string;
  /** Start is done when this many replicas are ready (default all; active-passive has one). */
  readyCount?: number;
}

/** A LocalCluster in a temporary directory on a test database, with helpers tests need. */
export class TestCluster {
  private constructor(
    readonly local: LocalCluster,
    private readonly dir: string,
  ) {}

  static async start(options: TestClusterOptions): Promise<TestCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'baton-test-cluster-'));
    const local = new LocalCluster({
      dataDir: dir,
      replicas: 3,
      basePort: 0,
      lanes: ['main'],
      leaseTtlMs: 3_000,
      entry: CLI_ENTRY,
      ...options,
    });
    try {
      await local.start();
      if (options.readyCount === undefined) await local.waitReady(30_000);
      else {
        const want = options.readyCount;
        await waitUntil(
          async () =>
            (await Promise.all(local.replicas.map((r) => isReady(r.url)))).filter(Boolean).length >= want,
          { timeoutMs: 30_000, message: `${want} ready replicas` },
        );
      }
    } catch (error) {
      await local.kill().catch(() => undefined);
      throw error;
    }
    return new TestCluster(local, dir);
  }

  get urls(): string[] {
    return this.local.replicas.map((r) => r.url);
  }

  /** Waits until the cluster view names a leader for `lane` that satisfies `accept`. */
  async leader(
    lane = 'main',
    accept: (id: string, term: number) => boolean = () => true,
    timeoutMs = 20_000,
  ) {
    return waitUntil(
      async () => {
        const view = await this.local.view();
        const entry = view.lanes.find((l) => l.lane === lane);
        return entry?.leader && accept(entry.leader, entry.term)
          ? { id: entry.leader, term: entry.term }
          : undefined;
      },
      { timeoutMs, message: `a leader for lane ${lane}` },
    );
  }

  async stop(): Promise<void> {
    await this.local.stop(5_000).catch(() => this.local.kill());
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Logs of a replica, for failure messages. */
  logFile(id: string): string {
    return join(this.local.logsDir, `${id}.log`);
  }
}
