import type pg from 'pg';
import type { ClusterView } from '../api/context.js';
import type { DedicatedConnection } from '../db/dedicated.js';
import { OWN_SESSION_STARTED, sessionAlive } from '../db/sessions.js';
import type { PlacementReplica } from './placement.js';
import type { LaneDetail, LaneStatus, ReplicaStatus } from '../api/context.js';

export interface ReplicaIdentity {
  id: string;
  /** Random per process: tells this process apart from an earlier or concurrent one with the same id. */
  instance: string;
  url: string;
  pid: number;
  version: string;
  priority: number;
  mode: string;
  /** App name → versions this replica runs. */
  apps: Record<string, string[]>;
}

/**
 * A lane's leader as clients see it: its lease is valid, its session lives, and it has claimed
 * its term in the fence (so the lane's term is the one its blocks carry). Between a new lease
 * and its claim the lane shows no leader.
 */
const LEADS_UNDER_FENCE = `l.expires_at > clock_timestamp() AND l.term = b.term
  AND ${sessionAlive('l.holder_pid', 'l.holder_started')}`;

/** The lanes a lease holder leads, counted only while its session lives and its lease is valid. */
const LEADS = `(SELECT count(*) FROM baton_leases l
   WHERE l.holder_pid = r.session_pid AND l.holder_started = r.session_started
     AND l.expires_at > clock_timestamp())::int`;

/** A replica counts as live while its elector session exists and it heartbeated recently. */
const LIVE = `r.seen_at > now() - make_interval(secs => $1::float8 / 1000)
  AND ${sessionAlive('r.session_pid', 'r.session_started')}`;

export class ReplicaIdInUseError extends Error {
  constructor(id: string) {
    super(
      `replica id "${id}" is already live in this cluster; choose another --id or stop the other process`,
    );
    this.name = 'ReplicaIdInUseError';
  }
}

/** The baton_replicas table: who is in the cluster, and the cluster view served by /v1/cluster. */
export class ReplicaRegistry {
  constructor(
    private readonly pool: pg.Pool,
    private readonly self: ReplicaIdentity,
    private readonly staleAfterMs: number,
  ) {}

  /** Registers this process under its id, refusing when another live process already has it. */
  async register(): Promise<void> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO baton_replicas AS r (id, instance, url, pid, version, ready, priority, mode, apps)
       VALUES ($2, $3, $4, $5, $6, false, $7, $8, $9)
       ON CONFLICT (id) DO UPDATE SET instance = EXCLUDED.instance, url = EXCLUDED.url, pid = EXCLUDED.pid,
         version = EXCLUDED.version, ready = false, ready_since = NULL, session_pid = NULL,
         session_started = NULL, priority = EXCLUDED.priority, mode = EXCLUDED.mode,
         apps = EXCLUDED.apps, reason = NULL, started_at = now(), seen_at = now()
       WHERE NOT (${LIVE})`,
      [
        this.staleAfterMs,
        this.self.id,
        this.self.instance,
        this.self.url,
        this.self.pid,
        this.self.version,
        this.self.priority,
        this.self.mode,
        JSON.stringify(this.self.apps),
      ],
    );
    if (rowCount === 0) throw new ReplicaIdInUseError(this.self.id);
    // Replicas planning placement under different modes would undo each other's moves forever.
    const { rows } = await this.pool.query<{ id: string; mode: string }>(
      `SELECT r.id, r.mode FROM baton_replicas r WHERE r.id <> $2 AND r.mode <> $3 AND ${LIVE} LIMIT 1`,
      [this.staleAfterMs, this.self.id, this.self.mode],
    );
    const other = rows[0];
    if (other) {
      await this.deregister();
      throw new Error(
        `replica ${other.id} runs in ${other.mode} mode and this one in ${this.self.mode}: every replica of a cluster needs the same --mode`,
      );
    }
  }

  /** Records the elector session that vouches for this replica being alive. */
  async attachSession(conn: DedicatedConnection): Promise<void> {
    await conn.query(
      `UPDATE baton_replicas SET session_pid = pg_backend_pid(),
         session_started = ${OWN_SESSION_STARTED}, seen_at = now()
       WHERE id = $1 AND instance = $2`,
      [this.self.id, this.self.instance],
    );
  }

  /**
   * `reason`: why the replica is not ready; `mismatches`: blocks that did not re-execute to what
   * they recorded (null: not verifying). Both are shown by the operator's status.
   */
  async heartbeat(
    ready: boolean,
    streams = 0,
    reason: string | null = null,
    mismatches: number | null = null,
  ): Promise<void> {
    await this.pool.query(
      `UPDATE baton_replicas SET seen_at = now(), ready = $3, streams = $4, reason = $5, mismatches = $6,
         ready_since = CASE WHEN NOT $3 THEN NULL ELSE coalesce(ready_since, now()) END
       WHERE id = $1 AND instance = $2`,
      [this.self.id, this.self.instance, ready, streams, reason, mismatches],
    );
  }

  /** The live replicas that run `version` of app `app`. */
  async runnersOf(app: string, version: string): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT r.id FROM baton_replicas r WHERE ${LIVE} AND r.apps -> $2 ? $3`,
      [this.staleAfterMs, app, version],
    );
    return new Set(rows.map((r) => r.id));
  }

  /**
   * The live replicas as placement sees them: priority, lanes led, and whether each has been
   * ready for at least `settleMs` (a replica that just joined or flapped is not given lanes yet).
   */
  async placement(settleMs: number): Promise<PlacementReplica[]> {
    const { rows } = await this.pool.query<PlacementReplica>(
      `SELECT r.id, r.priority,
              coalesce(r.ready AND r.ready_since <= now() - make_interval(secs => $2::float8 / 1000), false) AS eligible,
              ${LEADS} AS leads
       FROM baton_replicas r WHERE ${LIVE} ORDER BY r.id`,
      [this.staleAfterMs, settleMs],
    );
    return rows;
  }

  /** Sets the leadership priority of a live replica; false when no such replica is live. */
  async setPriority(id: string, priority: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE baton_replicas r SET priority = $3 WHERE r.id = $2 AND ${LIVE}`,
      [this.staleAfterMs, id, priority],
    );
    return rowCount === 1;
  }

  /**
   * The operator's view: every live replica with its priority and mode. Lanes led are left to the
   * caller, counted from the lane rows it shows beside them, so that the two tables agree.
   */
  async replicaStatus(): Promise<Array<Omit<ReplicaStatus, 'leads'>>> {
    const { rows } = await this.pool.query<Omit<ReplicaStatus, 'leads'>>(
      `SELECT r.id, r.url, r.pid, r.version, r.ready, r.priority, r.mode, r.streams, r.apps, r.reason, r.mismatches
       FROM baton_replicas r WHERE ${LIVE} ORDER BY r.id`,
      [this.staleAfterMs],
    );
    return rows;
  }

  /** Stream subscriber counts of the live, ready replicas (this one included). */
  async streamCounts(): Promise<Map<string, number>> {
    const { rows } = await this.pool.query<{ id: string; streams: number }>(
      `SELECT r.id, r.streams FROM baton_replicas r WHERE r.ready AND ${LIVE}`,
      [this.staleAfterMs],
    );
    return new Map(rows.map((r) => [r.id, r.streams]));
  }

  /** Every lane with its live leader, term, height, pending transactions and last block age. */
  async laneStatus(): Promise<LaneStatus[]> {
    const { rows } = await this.pool.query<{
      lane: string;
      app: string;
      version: string | null;
      proposed_version: string | null;
      leader: string | null;
      term: string;
      height: string;
      pending: string;
      age_ms: string | null;
    }>(
      `SELECT b.lane, b.app, b.version, b.proposed_version, b.height, b.term,
              CASE WHEN ${LEADS_UNDER_FENCE} THEN l.holder END AS leader,
              coalesce(p.n, 0) AS pending,
              CASE WHEN b.tip_time > 0
                   THEN (extract(epoch FROM clock_timestamp()) * 1000)::bigint - b.tip_time END AS age_ms
       FROM baton_lanes b
       LEFT JOIN baton_leases l USING (lane)
       LEFT JOIN (SELECT lane, count(*) AS n FROM baton_txs WHERE height IS NULL GROUP BY lane) p USING (lane)
       ORDER BY b.lane`,
    );
    return rows.map((r) => ({
      lane: r.lane,
      app: r.app,
      version: r.version,
      proposedVersion: r.proposed_version,
      leader: r.leader,
      term: Number(r.term),
      height: Number(r.height),
      pending: Number(r.pending),
      lastBlockAgeMs: r.age_ms === null ? null : Math.max(0, Number(r.age_ms)),
    }));
  }

  /** A lane's lease: its live holder (null when free, expired or its session is gone) and term. */
  async lease(lane: string): Promise<{ holder: string | null; term: number } | null> {
    const { rows } = await this.pool.query<{ holder: string | null; term: string }>(
      `SELECT CASE WHEN l.expires_at > clock_timestamp()
                    AND ${sessionAlive('l.holder_pid', 'l.holder_started')}
                   THEN l.holder END AS holder, l.term
       FROM baton_leases l WHERE l.lane = $1`,
      [lane],
    );
    const row = rows[0];
    return row ? { holder: row.holder, term: Number(row.term) } : null;
  }

  /** One lane as `GET /v1/lanes/{lane}` shows it: its app and version, height, term and leader. */
  async laneView(lane: string): Promise<LaneDetail | null> {
    const { rows } = await this.pool.query<{
      lane: string;
      app: string;
      version: string | null;
      proposed_version: string | null;
      height: string;
      term: string;
      leader: string | null;
    }>(
      `SELECT b.lane, b.app, b.version, b.proposed_version, b.height, b.term,
              CASE WHEN ${LEADS_UNDER_FENCE} THEN l.holder END AS leader
       FROM baton_lanes b LEFT JOIN baton_leases l USING (lane) WHERE b.lane = $1`,
      [lane],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      lane: r.lane,
      app: r.app,
      version: r.version,
      height: Number(r.height),
      term: Number(r.term),
      leader: r.leader,
      proposedVersion: r.proposed_version,
    };
  }

  async deregister(): Promise<void> {
    await this.pool.query('DELETE FROM baton_replicas WHERE id = $1 AND instance = $2', [
      this.self.id,
      this.self.instance,
    ]);
  }

  async cluster(): Promise<ClusterView> {
    const replicas = await this.pool.query<{
      id: string;
      url: string;
      pid: number;
      version: string;
      ready: boolean;
      apps: Record<string, string[]>;
    }>(
      `SELECT r.id, r.url, r.pid, r.version, r.ready, r.apps FROM baton_replicas r WHERE ${LIVE} ORDER BY r.id`,
      [this.staleAfterMs],
    );
    const lanes = await this.pool.query<{
      lane: string;
      leader: string | null;
      term: string;
      height: string;
    }>(
      `SELECT b.lane, b.height, b.term,
              CASE WHEN ${LEADS_UNDER_FENCE} THEN l.holder END AS leader
       FROM baton_lanes b LEFT JOIN baton_leases l USING (lane) ORDER BY b.lane`,
    );
    return {
      elector: 'postgres',
      replicas: replicas.rows,
      lanes: lanes.rows.map((r) => ({
        lane: r.lane,
        leader: r.leader,
        term: Number(r.term),
        height: Number(r.height),
      })),
    };
  }
}
