import pg from 'pg';
import type { ClusterView, LaneView } from '../src/api/context.js';
import type { Block } from '../src/ledger/block.js';
import { LocalCluster } from '../src/cluster/local.js';
import { sleep } from '../src/time.js';
import type { Cleanups } from './cleanups.js';
import type { BenchEnv } from './env.js';
import { Probe } from './probe.js';

/** A replica log line worth keeping: leadership changes, fencing, failures. */
export interface LogEvent {
  replica: string;
  msg: string;
  lane?: string;
  term?: number;
  reason?: string;
  /** The replica's wall clock when it wrote the line (ms since the epoch). */
  time: number;
  level: string;
}

const KEPT = new Set([
  'lane elected',
  'leading lane',
  'lane lost',
  'stopped leading lane',
  'commit fenced: a newer term exists',
  'block production failed, retrying',
  'replica started',
]);

export interface BenchClusterOptions {
  name: string;
  replicas: number;
  leaseTtlMs: number;
  lane: string;
  /** Node.js flags for the replica processes (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

/** A LocalCluster of real replica processes on one database of the bench's PostgreSQL. */
export class BenchCluster {
  readonly events: LogEvent[] = [];
  readonly exits: Array<{ id: string; code: number | null; signal: string | null; time: number }> = [];

  readonly local: LocalCluster;
  readonly probe = new Probe();
  private unregister: () => void = () => undefined;
  private db: Promise<pg.Client> | null = null;

  private constructor(
    cliPath: string,
    dataDir: string,
    readonly databaseUrl: string,
    readonly options: BenchClusterOptions,
  ) {
    this.local = new LocalCluster({
      dataDir,
      replicas: options.replicas,
      basePort: 0,
      lanes: [options.lane],
      leaseTtlMs: options.leaseTtlMs,
      databaseUrl,
      entry: [...(options.nodeArgs ?? []), cliPath],
      onLogLine: (line) => this.onLogLine(line),
      onExit: (id, code, signal) => this.exits.push({ id, code, signal, time: Date.now() }),
    });
  }

  static async start(env: BenchEnv, cleanups: Cleanups, options: BenchClusterOptions): Promise<BenchCluster> {
    const databaseUrl = await env.database(options.name);
    const cluster = new BenchCluster(env.cliPath, await env.scenarioDir(options.name), databaseUrl, options);
    cluster.unregister = cleanups.add(`cluster ${options.name}`, () => cluster.local.kill());
    await cluster.local.start();
    await cluster.local.waitReady(60_000);
    return cluster;
  }

  private onLogLine(line: Record<string, unknown>): void {
    const text = (key: string): string => {
      const value = line[key];
      return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
    };
    const msg = text('msg');
    if (!KEPT.has(msg) && line['level'] !== 'error') return;
    const term = line['term'];
    this.events.push({
      replica: text('replica') || '?',
      msg,
      level: text('level'),
      time: Date.parse(text('time')),
      ...(text('lane') ? { lane: text('lane') } : {}),
      ...(typeof term === 'number' ? { term } : {}),
      ...(text('reason') ? { reason: text('reason') } : {}),
    });
  }

  get urls(): string[] {
    return this.local.replicas.map((r) => r.url);
  }

  urlOf(id: string): string {
    return this.local.replica(id).url;
  }

  idOf(url: string): string {
    return this.local.replicas.find((r) => r.url === url)?.options.id ?? '?';
  }

  /** The cluster view as one given replica serves it (never waits on a stopped replica). */
  async viewFrom(url: string, timeoutMs = 1_000): Promise<ClusterView> {
    return this.probe.json<ClusterView>(`${url}/v1/cluster`, timeoutMs);
  }

  async laneFrom(url: string): Promise<LaneView> {
    const lane = (await this.viewFrom(url)).lanes.find((l) => l.lane === this.options.lane);
    if (!lane) throw new Error(`lane ${this.options.lane} missing from the cluster view`);
    return lane;
  }

  /** GET /v1/lanes/{lane}/blocks?from=&limit= on one replica. */
  async blocks(url: string, from: number, limit = 1000, timeoutMs = 2_000): Promise<Block[]> {
    const lane = encodeURIComponent(this.options.lane);
    const page = await this.probe.json<{ blocks: Block[] }>(
      `${url}/v1/lanes/${lane}/blocks?from=${from}&limit=${limit}`,
      timeoutMs,
    );
    return page.blocks;
  }

  /** Every block of the lane, in height order, through the blocks API of `url`. */
  async allBlocks(url: string): Promise<Block[]> {
    const out: Block[] = [];
    for (;;) {
      const page = await this.blocks(url, out.length + 1, 1000, 10_000);
      out.push(...page);
      if (page.length < 1000) return out;
    }
  }

  /**
   * Waits for a steady cluster: every replica ready, a leader for the lane, and that leader's
   * term already visible in the newest block (the previous hand-over is complete).
   */
  async waitSteady(timeoutMs = 30_000): Promise<{ leader: string; term: number; height: number }> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      try {
        const readiness = await Promise.all(this.urls.map((u) => this.probe.ready(u)));
        if (readiness.every(Boolean)) {
          const lane = await this.laneFrom(this.urls[0]!);
          if (lane.leader && lane.height > 0) {
            const [tip] = await this.blocks(this.urls[0]!, lane.height, 1);
            if (tip && tip.term === lane.term && tip.producer === lane.leader) {
              return { leader: lane.leader, term: lane.term, height: lane.height };
            }
            last = `tip term ${tip?.term} by ${tip?.producer}, lane term ${lane.term} leader ${lane.leader}`;
          } else last = `leader ${lane.leader}, height ${lane.height}`;
        } else last = `ready: ${readiness.join(',')}`;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      await sleep(20);
    }
    throw new Error(`the cluster did not become steady within ${timeoutMs} ms (${last})`);
  }

  /** Waits until the cluster view names a leader for the lane (a fresh lane has no block yet). */
  async waitLeader(timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const lane = await this.laneFrom(this.urls[0]!).catch(() => null);
      if (lane?.leader) return lane.leader;
      await sleep(20);
    }
    throw new Error(`no leader for lane ${this.options.lane} within ${timeoutMs} ms`);
  }

  /** A connection to the cluster's database, opened on first use, closed by stop(). */
  async database(): Promise<pg.Client> {
    if (!this.db) {
      const db = new pg.Client({ connectionString: this.databaseUrl });
      this.db = db.connect().then(() => db);
    }
    return this.db;
  }

  /**
   * Polls the database directly (every ~2 ms) for the first block above `from` with a term newer
   * than `oldTerm` by another producer: when the commit became visible, without the API in between.
   */
  async watchDatabase(from: number, oldTerm: number, victim: string, t0: number, timeoutMs: number) {
    const db = await this.database();
    while (performance.now() - t0 < timeoutMs) {
      const { rows } = await db.query<{ height: string }>(
        `SELECT height FROM baton_blocks WHERE lane = $1 AND height >= $2 AND term > $3 AND producer <> $4
         ORDER BY height LIMIT 1`,
        [this.options.lane, from, oldTerm, victim],
      );
      if (rows.length > 0) return performance.now() - t0;
      await sleep(2);
    }
    return undefined;
  }

  /** Starts an exited replica again under the same id and port; resolves with ms until /readyz is 200. */
  async restart(id: string, timeoutMs = 30_000): Promise<number> {
    const replica = this.local.replica(id);
    await replica.waitExit();
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      replica.start();
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline && replica.running) {
        if (await this.probe.ready(replica.url)) return performance.now() - started;
        await sleep(20);
      }
      if (replica.running) throw new Error(`replica ${id} not ready ${timeoutMs} ms after a restart`);
      // It exited during start (e.g. its old database session was still registered): try again.
      if (attempt >= 3)
        throw new Error(`replica ${id} keeps exiting on restart; see ${replica.options.logFile}`);
      await sleep(500);
    }
  }

  /** First kept log event matching `match`, waiting up to `timeoutMs`. */
  async waitForEvent(match: (e: LogEvent) => boolean, timeoutMs: number): Promise<LogEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found || Date.now() > deadline) return found;
      await sleep(10);
    }
  }

  async stop(): Promise<void> {
    await this.db?.then((db) => db.end()).catch(() => undefined);
    this.probe.close();
    await this.local.stop(5_000).catch(() => this.local.kill());
    this.unregister();
  }
}
