import type pg from 'pg';
import type { ClusterView } from '../api/context.js';
import type { DedicatedConnection } from '../db/dedicated.js';

export interface ReplicaIdentity {
  id: string;
  /** Random per process: tells this process apart from an earlier or concurrent one with the same id. */
  instance: string;
  url: string;
  pid: number;
  version: string;
}

/** A replica counts as live while its elector session exists and it heartbeated recently. */
const LIVE = `r.seen_at > now() - make_interval(secs => $1::float8 / 1000)
  AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = r.session_pid AND a.backend_start = r.session_started)`;

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
      `INSERT INTO baton_replicas AS r (id, instance, url, pid, version, ready)
       VALUES ($2, $3, $4, $5, $6, false)
       ON CONFLICT (id) DO UPDATE SET instance = EXCLUDED.instance, url = EXCLUDED.url, pid = EXCLUDED.pid,
         version = EXCLUDED.version, ready = false, session_pid = NULL, session_started = NULL,
         started_at = now(), seen_at = now()
       WHERE NOT (${LIVE})`,
      [this.staleAfterMs, this.self.id, this.self.instance, this.self.url, this.self.pid, this.self.version],
    );
    if (rowCount === 0) throw new ReplicaIdInUseError(this.self.id);
  }

  /** Records the elector session that vouches for this replica being alive. */
  async attachSession(conn: DedicatedConnection): Promise<void> {
    await conn.query(
      `UPDATE baton_replicas SET session_pid = pg_backend_pid(),
         session_started = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()), seen_at = now()
       WHERE id = $1 AND instance = $2`,
      [this.self.id, this.self.instance],
    );
  }

  async heartbeat(ready: boolean, streams = 0): Promise<void> {
    await this.pool.query(
      'UPDATE baton_replicas SET seen_at = now(), ready = $3, streams = $4 WHERE id = $1 AND instance = $2',
      [this.self.id, this.self.instance, ready, streams],
    );
  }

  /** Stream subscriber counts of the live, ready replicas (this one included). */
  async streamCounts(): Promise<Map<string, number>> {
    const { rows } = await this.pool.query<{ id: string; streams: number }>(
      `SELECT r.id, r.streams FROM baton_replicas r WHERE r.ready AND ${LIVE}`,
      [this.staleAfterMs],
    );
    return new Map(rows.map((r) => [r.id, r.streams]));
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
    }>(`SELECT r.id, r.url, r.pid, r.version, r.ready FROM baton_replicas r WHERE ${LIVE} ORDER BY r.id`, [
      this.staleAfterMs,
    ]);
    const lanes = await this.pool.query<{
      lane: string;
      leader: string | null;
      term: string;
      height: string;
    }>(
      `SELECT b.lane, b.height, b.term,
              CASE WHEN l.expires_at > clock_timestamp()
                    AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.holder_pid AND a.backend_start = l.holder_started)
                   THEN l.holder END AS leader
       FROM baton_lanes b LEFT JOIN baton_leases l USING (lane) ORDER BY b.lane`,
    );
    return {
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
