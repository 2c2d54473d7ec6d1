import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { AppRegistry } from '../apps/registry.js';
import { AppRunner } from '../apps/runner.js';
import type { ApiContext, Readiness } from '../api/context.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import { StreamHub } from '../api/stream.js';
import { PostgresElector, parseLeaseGrant } from '../coordination/postgres.js';
import { DedicatedConnection } from '../db/dedicated.js';
import { migrate } from '../db/migrations.js';
import { createPool, warmPool } from '../db/pool.js';
import { TypedEvents } from '../events.js';
import { Intake } from '../ledger/intake.js';
import { SignatureVerifier } from '../ledger/keys.js';
import { LedgerStore, blockFromNotice, warmConnection } from '../ledger/store.js';
import { retrying, sleep } from '../time.js';
import { VERSION } from '../version.js';
import type { ReplicaConfig } from './config.js';
import type { ReplicaEvents } from './events.js';
import { Leadership } from './leadership.js';
import { excessSubscribers } from './rebalance.js';
import { STREAM_CLOSE } from '../stream-codes.js';
import { ReplicaRegistry } from './registry.js';
import { Balancer } from './balancer.js';
import { Liveness } from './liveness.js';
import { metricsText } from './metrics.js';
import { ReplicaAdmin } from './admin-actions.js';
import { CONTROL_CHANNEL, LANES_CHANNEL, parseControl, type ControlMessage } from './control.js';
import { pickSuccessor } from './placement.js';
import { LaneSet } from './lane-set.js';
import { approvalsOf } from '../ledger/upgrades.js';
import type { Lane } from '../ledger/lane.js';
import { BlockVerifier, type VerificationCounts } from '../ledger/verifier.js';

const FOLLOW_POOL_SIZE = 3;

/** One running replica: HTTP API, intake, warm lane state, and leadership of the lanes it wins. */
export class Replica {
  readonly events = new TypedEvents<ReplicaEvents>();
  readonly id: string;
  url = '';
  private readonly controller = new AbortController();
  private readonly pool: pg.Pool;
  private readonly store: LedgerStore;
  private readonly followPool: pg.Pool;
  private readonly followStore: LedgerStore;
  private readonly lanes: LaneSet;
  private readonly runner: AppRunner;
  private readonly listener: DedicatedConnection;
  private readonly elector: PostgresElector;
  private readonly leadership: Leadership;
  private registry: ReplicaRegistry | null = null;
  private balancer: Balancer | null = null;
  private readonly liveness: Liveness;
  private committed = { blocks: 0, txs: 0 };
  /** Blocks re-executed by --verify-blocks, over every lane. */
  readonly verification: VerificationCounts = { verified: 0, mismatches: 0, skipped: 0 };
  private api: ApiServer | null = null;
  private streams: StreamHub | null = null;
  private background: Promise<unknown>[] = [];
  private stopping: Promise<void> | null = null;
  private electorSession = false;
  private lastReady: boolean | null = null;

  constructor(
    private readonly config: ReplicaConfig,
    /** The app code this replica runs: the built-in apps and those of `config.apps`. */
    readonly apps: AppRegistry,
  ) {
    this.id = config.id;
    this.runner = new AppRunner(config.applyBudgetMs);
    const logger = config.logger;
    this.pool = createPool({
      url: config.databaseUrl,
      max: config.poolSize,
      applicationName: `baton:${config.id}`,
      logger,
    });
    this.store = new LedgerStore(this.pool);
    // Followers fetch committed blocks on their own connections, so a busy intake never
    // delays the delivery of a block to this replica's stream subscribers.
    this.followPool = createPool({
      url: config.databaseUrl,
      max: FOLLOW_POOL_SIZE,
      applicationName: `baton:${config.id}:follow`,
      logger,
    });
    this.followStore = new LedgerStore(this.followPool);
    this.lanes = new LaneSet(this.followStore, apps, logger, config.stateCacheKeys);
    this.lanes.events.on('lane:added', (lane) => {
      this.streams?.watchLane(lane.name, lane.follower);
      if (this.background.length > 0) this.startVerifier(lane);
      if (this.registry) logger.info('serving new lane', { lane: lane.name, app: lane.appName });
      if (this.registry && !this.stopping) this.updateCandidacy();
    });
    this.lanes.events.on('lane:app', ({ lane, runs }) => {
      const version = lane.version;
      if (runs) logger.info('lane runs another app version', { lane: lane.name, version });
      else logger.warn('lane switched to an app version this replica lacks', { lane: lane.name, version });
      if (!this.stopping) this.updateCandidacy();
    });
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
      lanes: this.lanes.map,
      runner: this.runner,
      limits: config.leader,
      logger,
      events: this.events,
      onStall: (lane, term, idleMs) => void this.onLaneStall(lane, term, idleMs),
      successorFor: (lane) => this.successorFor(lane),
    });
    this.liveness = new Liveness({
      ...config.liveness,
      onEventLoopStall: (ms) => void this.onEventLoopStall(ms),
    });
    this.events.on('block:committed', ({ txs }) => {
      this.committed.blocks++;
      this.committed.txs += txs;
    });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Lanes this replica leads right now, with their terms. */
  leading(): Map<string, number> {
    return this.leadership.leading();
  }

  /** Whether this replica can serve and take over lanes: connected, every lane's state loaded. */
  warmth(): Readiness {
    if (this.stopping) return { ready: false, reason: 'draining' };
    if (!this.electorSession) return { ready: false, reason: 'no database session' };
    if (!this.listener.connected) return { ready: false, reason: 'no database listener' };
    for (const lane of this.lanes.values()) {
      if (!lane.follower.loaded) return { ready: false, reason: `lane ${lane.name} is loading` };
      const missing = lane.missing();
      if (missing) return { ready: false, reason: missing };
    }
    return { ready: true };
  }

  /** What /readyz answers: warm, and in active-passive mode only the replica leading every lane. */
  readiness(): Readiness {
    const warmth = this.warmth();
    if (!warmth.ready || this.config.mode === 'active-active') return warmth;
    const led = this.leadership.leading().size;
    if (led < this.lanes.size)
      return { ready: false, reason: `passive (leads ${led} of ${this.lanes.size} lanes)` };
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
    await Promise.all([
      warmPool(this.pool, config.poolSize, warmConnection),
      warmPool(this.followPool, FOLLOW_POOL_SIZE),
    ]);
    const app = this.apps.latest(config.app);
    if (!app)
      throw new Error(`the lanes to create run app "${config.app}", which this replica does not have`);
    await this.store.ensureLanes(config.lanes, { app: app.name, version: app.version });
    await this.syncLanes();

    const verifier = new SignatureVerifier();
    const ctx: ApiContext = {
      replicaId: this.id,
      lanes: this.lanes.map,
      runner: this.runner,
      store: this.store,
      intake: new Intake(this.store, log, config.intake),
      verifier,
      readiness: () => this.readiness(),
      liveness: () => this.liveness.current(),
      metrics: () => this.metrics(),
      cluster: () => this.registry!.cluster(),
      lane: (lane) => this.registry!.laneView(lane),
    };
    this.api = await startApiServer(ctx, config.host, config.port, log);
    this.streams = new StreamHub(this.lanes.map, this.store, log, config.streams);
    this.streams.attach(this.api.server);
    this.url = config.advertiseUrl ?? this.api.url;
    this.registry = new ReplicaRegistry(
      this.pool,
      {
        id: this.id,
        instance: randomUUID(),
        url: this.url,
        pid: process.pid,
        version: VERSION,
        priority: config.priority,
        mode: config.mode,
        apps: this.apps.describe(),
      },
      config.lease.ttlMs + 2 * config.heartbeatMs,
    );
    if (config.adminToken) {
      ctx.admin = new ReplicaAdmin({
        token: config.adminToken,
        replicaId: this.id,
        pool: this.pool,
        store: this.store,
        registry: this.registry,
        apps: this.apps,
        approvals: async (lane, version) => {
          const warm = this.lanes.get(lane)?.follower;
          if (!warm?.loaded) return 0;
          const state = warm.current;
          return state.resolve(() => approvalsOf(state, version).length);
        },
        drainSelf: () => void this.stop(),
        handoverTimeoutMs: config.lease.ttlMs + 2_000,
        readyWaitMs: 3 * config.heartbeatMs,
      });
    }
    this.balancer = new Balancer({
      replicaId: this.id,
      mode: config.mode,
      registry: this.registry,
      leadership: this.leadership,
      timings: config.balancer,
      logger: log,
      active: () => this.warmth().ready,
    });
    try {
      await this.registry.register();
    } catch (error) {
      await this.api.close();
      await this.pool.end().catch(() => undefined);
      await this.followPool.end().catch(() => undefined);
      throw error;
    }

    this.listener.events.on('up', ({ client: conn }) => void this.onListenerUp(conn));
    this.elector.events.on('session:up', () => (this.electorSession = true));
    this.elector.events.on('session:down', () => (this.electorSession = false));
    this.elector.events.on('lease:renew:error', (e) => this.events.emit('lease:renew:error', e));
    this.leadership.start();
    this.updateCandidacy();
    this.liveness.start();
    const signal = this.controller.signal;
    this.background = [
      this.listener.run(signal),
      this.elector.run(signal),
      this.heartbeatLoop(signal),
      this.leadership.watchProgress(signal),
      this.balancer.run(signal),
    ];
    for (const lane of this.lanes.values()) this.startVerifier(lane);
    log.info('replica started', {
      url: this.url,
      lanes: [...this.lanes.map.keys()],
      apps: this.apps.describe(),
      version: VERSION,
      signatures: verifier.backend,
    });
  }

  /** Re-executes the lane's blocks to catch a non-deterministic app (with --verify-blocks). */
  private startVerifier(lane: Lane): void {
    if (!this.config.verifyBlocks || this.stopping) return;
    const verifier = new BlockVerifier(
      lane,
      this.followStore,
      this.runner,
      this.verification,
      this.events,
      this.config.logger.child({ lane: lane.name }),
    );
    this.background.push(verifier.run(this.controller.signal));
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
    await this.handOverForLeaving();
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
    this.liveness.stop();
    await Promise.allSettled(this.background);
    await this.registry?.deregister().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
    await this.followPool.end().catch(() => undefined);
    log.info('replica stopped', { drainMs: Date.now() - started });
    this.events.emit('replica:stopped', { drainMs: Date.now() - started });
  }

  private async waitForDatabase(): Promise<void> {
    const reached = await retrying(() => this.pool.query('SELECT 1'), {
      baseMs: 100,
      capMs: 2_000,
      signal: this.controller.signal,
      onError: (error, attempt) => {
        if (attempt % 10 === 0) this.config.logger.warn('waiting for the database', { error });
      },
    });
    if (reached === undefined) throw new Error('the replica stopped while waiting for the database');
  }

  private async onListenerUp(conn: pg.Client): Promise<void> {
    conn.on('notification', (msg) => this.onNotification(msg.channel, msg.payload ?? ''));
    try {
      await conn.query(
        `LISTEN baton_txs; LISTEN baton_block_data; LISTEN baton_blocks; LISTEN baton_leases; LISTEN ${LANES_CHANNEL}; LISTEN ${CONTROL_CHANNEL}`,
      );
    } catch (error) {
      this.config.logger.warn('LISTEN failed', { error });
      return;
    }
    // Anything committed (or created) while we were not listening is fetched now.
    for (const lane of this.lanes.values()) {
      lane.follower.requestCatchUp();
      lane.waker.wake();
    }
    this.syncLanes().catch((error: unknown) => this.config.logger.warn('lane sync failed', { error }));
  }

  /** Serves every lane of the cluster: loads the ones this replica does not have yet. */
  private async syncLanes(): Promise<void> {
    await this.lanes.sync(await this.store.lanes());
  }

  /** Campaigns for the lanes whose active app version this replica runs, but not those cooling down. */
  private updateCandidacy(): void {
    const now = Date.now();
    for (const lane of this.lanes.values()) if (lane.cooldownUntil <= now) lane.cooldownUntil = 0;
    const lanes = [...this.lanes.values()].filter((l) => l.cooldownUntil === 0 && l.missing() === null);
    this.elector.setCandidacy(lanes.map((l) => l.name));
  }

  /** The ready replica that should take a lane which switched to a version this one lacks. */
  private async successorFor(laneName: string): Promise<string | undefined> {
    const lane = this.lanes.get(laneName);
    const version = lane?.version;
    if (!lane || !version) return undefined;
    const [replicas, runners] = await Promise.all([
      this.registry!.placement(0),
      this.registry!.runnersOf(lane.appName, version),
    ]);
    return (
      pickSuccessor(
        replicas.filter((r) => runners.has(r.id)),
        this.id,
      ) ?? undefined
    );
  }

  private async onControl(message: ControlMessage): Promise<void> {
    const log = this.config.logger;
    if (message.op === 'drain') {
      if (message.replica !== this.id) return;
      log.info('drain requested by an operator');
      void this.stop();
      return;
    }
    const leading = this.leadership.leading();
    if (!leading.has(message.lane) || this.stopping) return;
    let to = message.to;
    if (to === null) to = pickSuccessor(await this.registry!.placement(0), this.id);
    if (to === null || to === this.id) return;
    // In active-passive mode the active role moves as a whole.
    const lanes = this.config.mode === 'active-passive' ? [...leading.keys()] : [message.lane];
    log.info('handing lanes over on request', { lanes: lanes.length, lane: message.lane, to });
    await this.leadership.handOverLanes(lanes, to);
  }

  /** Spreads the lanes this replica leads over the others before it leaves, each to a chosen successor. */
  private async handOverForLeaving(): Promise<void> {
    const led = [...this.leadership.leading().keys()];
    if (led.length === 0 || !this.balancer) return;
    try {
      const targets = await this.balancer.leavingTargets(led);
      await Promise.all([...targets].map(([to, lanes]) => this.leadership.handOverLanes(lanes, to)));
    } catch (error) {
      this.config.logger.warn('could not pick successors; releasing lanes to whoever takes them', { error });
    }
  }

  private async onLaneStall(lane: string, term: number, idleMs: number): Promise<void> {
    const log = this.config.logger;
    const reason = `lane ${lane}: transactions pending but no block committed for ${idleMs} ms`;
    log.error('leader stalled; giving the lane up', { lane, term, idleMs });
    this.liveness.report(reason);
    const stalled = this.lanes.get(lane);
    if (stalled) stalled.cooldownUntil = Date.now() + 3 * this.config.leader.stallMs;
    this.updateCandidacy(); // the heartbeat loop puts the lane back once its cooldown is over
    const to = await this.registry!.placement(this.config.balancer.settleMs)
      .then((replicas) => pickSuccessor(replicas, this.id) ?? undefined)
      .catch(() => undefined);
    await this.leadership.abandon(lane, to);
  }

  private async onEventLoopStall(stalledMs: number): Promise<void> {
    const led = this.leadership.leading().size;
    this.config.logger.warn('event loop stalled', { stalledMs, lanesLed: led });
    if (led > 0 && !this.stopping) await this.handOverForLeaving();
  }

  private metrics(): string {
    return metricsText({
      replica: this.id,
      ready: this.readiness().ready,
      live: this.liveness.current().live,
      lanesServed: this.lanes.size,
      lanesLed: this.leadership.leading().size,
      streamSubscribers: this.streamCount,
      blocksCommitted: this.committed.blocks,
      txsCommitted: this.committed.txs,
      verification: this.config.verifyBlocks ? this.verification : null,
      electorQueries: this.elector.queryCounts(),
      laneState: [...this.lanes.values()]
        .filter((l) => l.follower.loaded)
        .map((l) => ({
          lane: l.name,
          keys: l.follower.current.cachedKeys,
          whole: l.follower.current.holdsEveryKey,
        })),
    });
  }

  private onNotification(channel: string, payload: string): void {
    if (channel === 'baton_txs') {
      this.lanes.get(payload)?.waker.wake();
    } else if (channel === 'baton_block_data') {
      const block = blockFromNotice(payload);
      if (block) this.lanes.get(block.lane)?.follower.offerNotified(block);
    } else if (channel === 'baton_blocks') {
      const sep = payload.lastIndexOf(':');
      const follower = this.lanes.get(payload.slice(0, sep))?.follower;
      if (follower && Number(payload.slice(sep + 1)) > follower.height) follower.requestCatchUp();
    } else if (channel === 'baton_leases') {
      const grant = parseLeaseGrant(payload);
      if (grant?.to === this.id) this.elector.granted(grant.lane, grant.term);
      else this.elector.poke();
    } else if (channel === LANES_CHANNEL) {
      this.store
        .lane(payload)
        .then((row) => (row ? this.lanes.add(row) : undefined))
        .catch((error: unknown) =>
          this.config.logger.warn('could not load a new lane', { lane: payload, error }),
        );
    } else if (channel === CONTROL_CHANNEL) {
      const message = parseControl(payload);
      if (message)
        this.onControl(message).catch((error: unknown) =>
          this.config.logger.warn('control request failed', { message, error }),
        );
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
      if ([...this.lanes.values()].some((l) => l.cooldownUntil > 0)) this.updateCandidacy();
      try {
        // An unhealthy replica (stalled event loop or leader) is not given lanes by placement.
        const eligible = this.warmth().ready && this.liveness.current().live;
        await this.registry!.heartbeat(
          eligible,
          this.streamCount,
          readiness.ready ? null : (readiness.reason ?? null),
          this.config.verifyBlocks ? this.verification.mismatches : null,
        );
        // Passive replicas receive no traffic, so there is nothing to spread in active-passive mode.
        const spread = readiness.ready && this.config.mode === 'active-active';
        if (spread && ++beats % this.config.rebalanceEveryBeats === 0) await this.rebalanceStreams();
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

/** Builds and starts a replica; its app modules (`config.apps`) are loaded first. */
export async function startReplica(config: ReplicaConfig): Promise<Replica> {
  const apps = await AppRegistry.load(config.apps);
  const replica = new Replica(config, apps);
  await replica.start();
  return replica;
}
