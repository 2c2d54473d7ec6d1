import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ClusterView } from '../api/context.js';
import { EmbeddedPostgres } from '../embedded/postgres.js';
import { silentLogger } from '../log.js';
import { sleep } from '../time.js';
import { assertPortFree, freePortRun } from '../ports.js';
import { ReplicaProcess, type ReplicaProcessOptions } from './replica-process.js';
import { ensureAdminToken } from '../node/admin-token.js';
import { DEFAULT_WATCHDOG, Watchdog, type WatchdogOptions } from './watchdog.js';

export interface LocalClusterOptions {
  dataDir: string;
  replicas: number;
  /** Replica i listens on basePort + i - 1; 0 picks free ports. */
  basePort: number;
  lanes: string[];
  leaseTtlMs: number;
  /** More `baton node` arguments for every replica. */
  replicaArgs?: string[];
  /** More `baton node` arguments for one replica (e.g. its --priority). */
  argsFor?: (id: string) => string[];
  /** Use this database instead of starting an embedded PostgreSQL. */
  databaseUrl?: string;
  postgresSettings?: Record<string, string | number>;
  entry?: string[];
  onLogLine?: (line: Record<string, unknown>) => void;
  onExit?: (id: string, code: number | null, signal: NodeJS.Signals | null) => void;
  /** Supervise the replicas: restart on exit or failed liveness, with back-off (off by default). */
  watchdog?: Partial<WatchdogOptions>;
  /** The database URL replica `id` connects to (e.g. through a fault-injecting proxy); default `url`. */
  databaseUrlFor?: (id: string, url: string) => string;
}

/** N replica processes on this machine, with an embedded PostgreSQL unless given a database. */
export class LocalCluster {
  readonly postgres: EmbeddedPostgres | null;
  readonly replicas: ReplicaProcess[] = [];
  private databaseUrlValue: string | null;
  adminToken = '';
  readonly watchdog: Watchdog | null;
  private readonly watchdogRun = new AbortController();

  constructor(readonly options: LocalClusterOptions) {
    this.databaseUrlValue = options.databaseUrl ?? null;
    this.watchdog = options.watchdog ? new Watchdog({ ...DEFAULT_WATCHDOG, ...options.watchdog }) : null;
    this.postgres = options.databaseUrl
      ? null
      : new EmbeddedPostgres({
          dir: resolve(options.dataDir),
          port: 0,
          logger: silentLogger,
          ...(options.postgresSettings ? { settings: options.postgresSettings } : {}),
        });
  }

  get databaseUrl(): string {
    if (!this.databaseUrlValue) throw new Error('the cluster is not started');
    return this.databaseUrlValue;
  }

  /** The bearer token file of the replicas' admin API (created at start). */
  get adminTokenFile(): string {
    return join(resolve(this.options.dataDir), 'admin-token');
  }

  get logsDir(): string {
    return join(resolve(this.options.dataDir), 'logs');
  }

  replica(id: string): ReplicaProcess {
    const replica = this.replicas.find((r) => r.options.id === id);
    if (!replica) throw new Error(`no replica ${id}`);
    return replica;
  }

  /** Starts the database (if embedded) and every replica; does not wait for readiness. */
  async start(): Promise<void> {
    const { options } = this;
    await mkdir(this.logsDir, { recursive: true });
    this.adminToken = await ensureAdminToken(this.adminTokenFile);
    if (this.postgres) {
      await this.postgres.start();
      this.databaseUrlValue = this.postgres.url;
    }
    // Ports are chosen or checked only once the database listens, so they cannot be its port.
    let basePort = options.basePort;
    if (basePort === 0) basePort = await freePortRun(options.replicas);
    else for (let i = 0; i < options.replicas; i++) await assertPortFree(basePort + i);
    for (let i = 1; i <= options.replicas; i++) this.addReplica(`r${i}`, basePort + i - 1);
    this.watchdog?.run(this.watchdogRun.signal).catch(() => undefined);
  }

  /** Creates (and starts) one more replica process. */
  addReplica(id: string, port: number): ReplicaProcess {
    const { options } = this;
    const replicaOptions: ReplicaProcessOptions = {
      id,
      port,
      databaseUrl: options.databaseUrlFor?.(id, this.databaseUrl) ?? this.databaseUrl,
      lanes: options.lanes,
      leaseTtlMs: options.leaseTtlMs,
      extraArgs: [
        '--admin-token-file',
        this.adminTokenFile,
        ...(options.replicaArgs ?? []),
        ...(options.argsFor?.(id) ?? []),
      ],
      logFile: join(this.logsDir, `${id}.log`),
      onExit: (code, signal) => {
        options.onExit?.(id, code, signal);
        this.watchdog?.exited(id, code, signal);
      },
      ...(options.onLogLine ? { onLogLine: options.onLogLine } : {}),
      ...(options.entry ? { entry: options.entry } : {}),
    };
    const replica = new ReplicaProcess(replicaOptions);
    this.replicas.push(replica);
    this.watchdog?.watch(replica);
    replica.start();
    return replica;
  }

  /** Waits until every running replica answers /readyz with 200. */
  async waitReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const pending = new Set(this.replicas.filter((r) => r.running));
    while (pending.size > 0 && !signal?.aborted) {
      for (const r of [...pending]) {
        if (!r.running)
          throw new Error(`replica ${r.options.id} exited during start; see ${r.options.logFile}`);
        if (await isReady(r.url)) pending.delete(r);
      }
      if (pending.size === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `replicas not ready after ${timeoutMs} ms: ${[...pending].map((r) => r.options.id).join(', ')}`,
        );
      }
      await sleep(50, signal);
    }
  }

  /** The cluster view from the first running replica that answers. */
  async view(): Promise<ClusterView> {
    for (const r of this.replicas.filter((x) => x.running)) {
      try {
        const res = await fetch(`${r.url}/v1/cluster`, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) return (await res.json()) as ClusterView;
      } catch {
        // next replica
      }
    }
    throw new Error('no replica answered /v1/cluster');
  }

  /** Stops every replica (SIGTERM, then SIGKILL after the timeout), then the embedded database. */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.stopWatchdog();
    await Promise.all(this.replicas.map((r) => r.stop(timeoutMs)));
    await this.postgres?.stop();
  }

  /** Ends everything at once (second Ctrl-C, failed test). */
  async kill(): Promise<void> {
    this.stopWatchdog();
    for (const r of this.replicas) r.signal('SIGKILL');
    await Promise.all(this.replicas.map((r) => r.waitExit()));
    await this.postgres?.kill();
  }

  private stopWatchdog(): void {
    this.watchdog?.stop();
    this.watchdogRun.abort();
  }
}

export async function isReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}
