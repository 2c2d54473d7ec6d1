import pg from 'pg';
import type { LaneDetail } from '../src/api/context.js';
import { LocalCluster } from '../src/cluster/local.js';
import type { ReplicaProcess } from '../src/cluster/replica-process.js';
import { waitUntil } from '../src/wait.js';
import type { Cleanups } from './cleanups.js';
import type { BenchEnv } from './env.js';
import { Probe } from './probe.js';

export interface AppClusterOptions {
  name: string;
  replicas: number;
  leaseTtlMs: number;
  /** Lanes the replicas create at start (token lanes); app lanes come from `createLane`. */
  lanes: string[];
  /** `baton node` arguments of one replica (its `--app` modules). */
  argsFor: (id: string) => string[];
}

/**
 * Replica processes that run user app modules, on a fresh database of the bench's PostgreSQL,
 * with the admin API (lanes of an app, upgrades, handovers) and a database connection to measure.
 */
export class AppCluster {
  readonly probe = new Probe();
  private unregister: () => void = () => undefined;
  private dbClient: pg.Client | null = null;

  private constructor(
    readonly local: LocalCluster,
    readonly databaseUrl: string,
  ) {}

  static async start(env: BenchEnv, cleanups: Cleanups, o: AppClusterOptions): Promise<AppCluster> {
    const databaseUrl = await env.database(o.name);
    const local = new LocalCluster({
      dataDir: await env.scenarioDir(o.name),
      replicas: o.replicas,
      basePort: 0,
      lanes: o.lanes,
      leaseTtlMs: o.leaseTtlMs,
      databaseUrl,
      entry: [env.cliPath],
      argsFor: o.argsFor,
    });
    const cluster = new AppCluster(local, databaseUrl);
    cluster.unregister = cleanups.add(`cluster ${o.name}`, () => local.kill());
    try {
      await local.start();
      await local.waitReady(60_000);
      const db = new pg.Client({ connectionString: databaseUrl });
      // A connection lost at the end of a failed run must not take the bench process down.
      db.on('error', () => undefined);
      await db.connect();
      cluster.dbClient = db;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get urls(): string[] {
    return this.local.replicas.map((r) => r.url);
  }

  get db(): pg.Client {
    if (!this.dbClient) throw new Error('the cluster is not started');
    return this.dbClient;
  }

  /** One admin API request to the first replica that is running; throws unless it answers 2xx. */
  async admin<T>(method: string, path: string, body?: unknown, timeoutMs = 20_000): Promise<T> {
    const replica = this.local.replicas.find((r) => r.running) ?? this.local.replicas[0]!;
    const res = await fetch(`${replica.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.local.adminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /** POST /v1/admin/lanes: a lane of `app` at `version`, then waits until a replica leads it. */
  async createLane(lane: string, app: string, version: string): Promise<void> {
    await this.admin('POST', '/v1/admin/lanes', { lane, app, version });
    await this.waitLeader(lane);
  }

  /** GET /v1/lanes/{lane} on the first running replica. */
  async lane(lane: string): Promise<LaneDetail> {
    const replica = this.local.replicas.find((r) => r.running) ?? this.local.replicas[0]!;
    return this.probe.json<LaneDetail>(`${replica.url}/v1/lanes/${encodeURIComponent(lane)}`, 2_000);
  }

  /** The lane's leader, once it has one that claimed its term. */
  async waitLeader(lane: string, timeoutMs = 30_000): Promise<string> {
    return waitUntil(async () => (await this.lane(lane)).leader ?? undefined, {
      timeoutMs,
      intervalMs: 20,
      message: `a leader for lane ${lane}`,
    });
  }

  /** Stops `replica` (SIGTERM, drain) and starts it again with other `baton node` arguments. */
  async restartWith(replica: ReplicaProcess, args: string[], timeoutMs = 30_000): Promise<void> {
    await replica.stop(15_000);
    replica.options.extraArgs = ['--admin-token-file', this.local.adminTokenFile, ...args];
    replica.start();
    await waitUntil(() => this.probe.ready(replica.url), {
      timeoutMs,
      intervalMs: 20,
      message: `${replica.options.id} ready after its restart; see ${replica.options.logFile}`,
    });
  }

  async stop(): Promise<void> {
    await this.dbClient?.end().catch(() => undefined);
    this.dbClient = null;
    this.probe.close();
    await this.local.stop(5_000).catch(() => this.local.kill());
    this.unregister();
  }
}
