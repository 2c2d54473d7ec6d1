import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { appByName } from '../apps/index.js';
import type { ApiContext, LaneRuntime, Readiness } from '../api/context.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import { StreamHub } from '../api/stream.js';
import { PostgresElector } from '../coordination/postgres.js';
import { DedicatedConnection } from '../db/dedicated.js';
import { migrate } from '../db/migrations.js';
import { createPool } from '../db/pool.js';
import { TypedEvents } from '../events.js';
import { LaneFollower } from '../ledger/follower.js';
import { Intake } from '../ledger/intake.js';
import { SignatureVerifier } from '../ledger/keys.js';
import { LedgerStore } from '../ledger/store.js';
import { backoffMs, sleep } from '../time.js';
import { VERSION } from '../version.js';
import { Waker } from '../waker.js';
import type { ReplicaConfig } from './config.js';
import type { ReplicaEvents } from './events.js';
import { Leadership } from './leadership.js';
import { excessSubscribers } from './rebalance.js';
import { STREAM_CLOSE } from '../stream-codes.js';
import { ReplicaRegistry } from './registry.js';

/** One running replica: HTTP API, intake, warm lane state, and leadership of the lanes it wins. */
export class Replica {
  readonly events = new TypedEvents<ReplicaEvents>();
  readonly id: string;
  url = '';
  private readonly controller = new AbortController();
  private readonly pool: pg.Pool;
  private readonly store: LedgerStore;
  private readonly lanes = new Map<string, LaneRuntime>();
  private readonly wakers = new Map<string, Waker>();
  private readonly listener: DedicatedConnection;
  private readonly elector: PostgresElector;
  private readonly leadership: Leadership;
  private registry: ReplicaRegistry | null = null;
  private api: ApiServer | null = null;
  private streams: StreamHub | null = null;
  private background: Promise<unknown>[] = [];
  private stopping: Promise<void> | null = null;
  private electorSession = false;
  private lastReady: boolean | null = null;

  constructor(private readonly config: ReplicaConfig) {
    this.id = config.id;
    const logger = config.logger;
    this.pool = createPool({
      url: config.databaseUrl,
      max: config.poolSize,
      applicationName: `baton:${config.id}`,
      logger,
    });
    this.store = new LedgerStore(this.pool);
    this.listener = new DedicatedConnection({ url: config.databaseUrl, name: `listen:${config.id}`, logger });
    this.elector = new PostgresElector({
      url: config.databaseUrl,
      replicaId: config.id,
      timings: config.lease,
      logger,
      onSession: (conn) => this.registry?.attachSession(conn) ?? Promise.resolve(),
    });
    this.leadership = new Leadership({
      replicaId: config.id,
      elector: this.elector,
      store: this.store,
      lanes: this.lanes,
      wakers: this.wakers,
      limits: config.leader,
      logger,
      events: this.events,
    });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Lanes this replica leads right now, with their terms. */
  leading(): Map<string, number> {
    return this.leadership.leading();
  }

  readiness(): Readiness {
    if (this.stopping) return { ready: false, reason: 'draining' };
    if (!this.electorSession) return { ready: false, reason: 'no database session' };
    if (!this.listener.connected) return { ready: false, reason: 'no database listener' };
    for (const [lane, runtime] of this.lanes) {
      if (!runtime.follower.loaded) return { ready: false, reason: `lane ${lane} is loading` };
    }
    return { ready: true };
  }

  async start(): Promise<void> {
    const { config } = this;
    const log = config.logger;
    await this.waitForDatabase();
    const client = await this.pool.connect();
    try {
      const applied = await migrate(client);
      if (applied > 0) log.info('database schema migrated', { applied });
    } finally {
      client.release();
    }
    const app = appByName(config.app);
    for (const lane of config.lanes) await this.store.ensureLane(lane, app.name);
    for (const row of await this.store.lanes()) {
      const follower = new LaneFollower(row.lane, this.store, log.child({ lane: row.lane }));
      this.lanes.set(row.lane, { app: appByName(row.app), follower });
      this.wakers.set(row.lane, new Waker());
    }
    await Promise.all([...this.lanes.values()].map((l) => l.follower.load()));

    const ctx: ApiContext = {
      replicaId: this.id,
      lanes: this.lanes,
      store: this.store,
      intake: new Intake(this.store, log, config.intake),
      verifier: new SignatureVerifier(),
      readiness: () => this.readiness(),
      cluster: () => this.registry!.cluster(),
      ...(config.adminToken ? { admin: { token: config.adminToken, drain: () => void this.stop() } } : {}),
    };
    this.api = await startApiServer(ctx, config.host, config.port, log);
    this.streams = new StreamHub(this.lanes, this.store, log, config.streams);
    this.streams.attach(this.api.server);
    this.url = config.advertiseUrl ?? this.api.url;
    this.registry = new ReplicaRegistry(
      this.pool,
      { id: this.id, instance: randomUUID(), url: this.url, pid: process.pid, version: VERSION },
      config.lease.ttlMs + 2 * config.heartbeatMs,
    );
    try {
      await this.registry.register();
    } catch (error) {
      await this.api.close();
      await this.pool.end().catch(() => undefined);
      throw error;
    }

    this.listener.events.on('up', ({ client: conn }) => void this.onListenerUp(conn));
    this.elector.events.on('session:up', () => (this.electorSession = true));
    this.elector.events.on('session:down', () => (this.electorSession = false));
    this.elector.events.on('lease:renew:error', (e) => this.events.emit('lease:renew:error', e));
    this.leadership.start();
    this.elector.setCandidacy(this.lanes.keys());
    const signal = this.controller.signal;
    this.background = [this.listener.run(signal), this.elector.run(signal), this.heartbeatLoop(signal)];
    log.info('replica started', { url: this.url, lanes: [...this.lanes.keys()], version: VERSION });
  }

  /** Number of open stream subscriptions. */
  get streamCount(): number {
    return this.streams?.count ?? 0;
  }

  /**
   * Graceful stop: not ready at once; lanes handed over to other replicas (no lease wait);
   * stream subscribers closed with 1012; in-flight requests finish (bounded by the drain
   * timeout); then the replica leaves the cluster.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const log = this.config.logger;
    const started = Date.now();
    log.info('replica draining');
    this.elector.setCandidacy([]);
    void this.registry?.heartbeat(false, 0).catch(() => undefined);
    await this.leadership.handOver();
    await this.leadership.stop();
    // Keep serving for a grace period: health checks see 503 and stop routing here, and
    // keep-alive clients are told to reconnect elsewhere; only then close the subscribers
    // (so their reconnects do not land here) and stop listening.
    this.streams?.stopAccepting();
    this.api?.beginDrain();
    const grace = Math.min(this.config.drainGraceMs, this.config.drainTimeoutMs);
    await sleep(grace);
    this.streams?.drain();
    await this.api?.close(Math.max(0, this.config.drainTimeoutMs - grace));
    this.streams?.stop();
    this.controller.abort(new Error('replica stopping'));
    await Promise.allSettled(this.background);
    await this.registry?.deregister().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
    log.info('replica stopped', { drainMs: Date.now() - started });
    this.events.emit('replica:stopped', { drainMs: Date.now() - started });
  }

  private async waitForDatabase(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.pool.query('SELECT 1');
        return;
      } catch (error) {
        if (this.controller.signal.aborted) throw error;
        if (attempt % 10 === 0) this.config.logger.warn('waiting for the database', { error });
        await sleep(backoffMs(attempt, 100, 2_000), this.controller.signal);
      }
    }
  }

  private async onListenerUp(conn: pg.Client): Promise<void> {
    conn.on('notification', (msg) => this.onNotification(msg.channel, msg.payload ?? ''));
    try {
      await conn.query('LISTEN baton_txs; LISTEN baton_blocks; LISTEN baton_leases');
    } catch (error) {
      this.config.logger.warn('LISTEN failed', { error });
      return;
    }
    // Anything committed while we were not listening is fetched now.
    for (const runtime of this.lanes.values()) runtime.follower.requestCatchUp();
    for (const waker of this.wakers.values()) waker.wake();
  }

  private onNotification(channel: string, payload: string): void {
    if (channel === 'baton_txs') {
      this.wakers.get(payload)?.wake();
    } else if (channel === 'baton_blocks') {
      const sep = payload.lastIndexOf(':');
      const follower = this.lanes.get(payload.slice(0, sep))?.follower;
      if (follower && Number(payload.slice(sep + 1)) > follower.height) follower.requestCatchUp();
    } else if (channel === 'baton_leases') {
      this.elector.poke();
    }
  }

  private async heartbeatLoop(signal: AbortSignal): Promise<void> {
    let beats = 0;
    while (!signal.aborted) {
      const readiness = this.readiness();
      if (readiness.ready !== this.lastReady) {
        this.lastReady = readiness.ready;
        this.events.emit('replica:ready', readiness);
      }
      try {
        await this.registry!.heartbeat(readiness.ready, this.streamCount);
        if (readiness.ready && ++beats % this.config.rebalanceEveryBeats === 0) await this.rebalanceStreams();
      } catch (error) {
        this.config.logger.debug('heartbeat failed', { error });
      }
      await sleep(this.config.heartbeatMs, signal);
    }
  }

  /** Asks some subscribers to reconnect elsewhere when this replica holds clearly more than its share. */
  private async rebalanceStreams(): Promise<void> {
    const counts = await this.registry!.streamCounts();
    counts.set(this.id, this.streamCount);
    const excess = excessSubscribers(this.id, counts);
    if (excess === 0 || !this.streams) return;
    const moved = this.streams.close(
      STREAM_CLOSE.rebalance,
      'rebalancing: reconnect to another replica',
      excess,
    );
    this.config.logger.info('asked stream subscribers to move', {
      moved,
      counts: Object.fromEntries(counts),
    });
  }
}

export async function startReplica(config: ReplicaConfig): Promise<Replica> {
  const replica = new Replica(config);
  await replica.start();
  return replica;
}
