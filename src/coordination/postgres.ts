import type pg from 'pg';
import type { Logger } from '../log.js';
import { TypedEvents } from '../events.js';
import { DedicatedConnection } from '../db/dedicated.js';
import { OWN_SESSION_STARTED, sessionAlive } from '../db/sessions.js';
import { monotonicMs } from '../time.js';
import { Waker } from '../waker.js';
import type { Elector, ElectorEvents, ElectorQueryCounts, LeaseTimings, LostReason } from './elector.js';

interface Held {
  term: number;
  /** Monotonic time at which the last successful renewal (or the acquisition) was sent. */
  renewedAt: number;
}

interface Session {
  pid: number;
  started: string;
}

/**
 * Gives leases up (`$1` lanes at `$2` terms, held by session `$3`/`$4`). With a live successor
 * `$5`, each lease is handed to its elector session under a new term and announced per lane on
 * `baton_leases` as JSON {grant, term, to}; otherwise released, reserved for `$5` if given, and
 * announced with an empty payload (a poke).
 */
const RESIGN = `
  WITH g AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS g(lane, term)),
       successor AS (SELECT r.id, r.session_pid, r.session_started FROM baton_replicas r
                     WHERE r.id = $5::text AND ${sessionAlive('r.session_pid', 'r.session_started')}),
       handed AS (
         UPDATE baton_leases l
         SET holder = s.id, holder_pid = s.session_pid, holder_started = s.session_started,
             term = GREATEST(l.term, (SELECT b.term FROM baton_lanes b WHERE b.lane = l.lane)) + 1,
             expires_at = clock_timestamp() + make_interval(secs => $6::float8 / 1000),
             reserved_for = NULL, reserved_until = NULL
         FROM g, successor s
         WHERE l.lane = g.lane AND l.term = g.term AND l.holder_pid = $3 AND l.holder_started = $4::timestamptz
         RETURNING l.lane, l.term, l.holder),
       released AS (
         UPDATE baton_leases l
         SET holder = NULL, holder_pid = NULL, holder_started = NULL, expires_at = NULL,
             reserved_for = $5::text,
             reserved_until = CASE WHEN $5::text IS NULL THEN NULL
                                   ELSE clock_timestamp() + make_interval(secs => $6::float8 / 1000) END
         FROM g
         WHERE l.lane = g.lane AND l.term = g.term AND l.holder_pid = $3 AND l.holder_started = $4::timestamptz
           AND NOT EXISTS (SELECT 1 FROM successor)
         RETURNING l.lane)
  SELECT pg_notify('baton_leases', json_build_object('grant', lane, 'term', term, 'to', holder)::text) FROM handed
  UNION ALL
  SELECT pg_notify('baton_leases', '') FROM (SELECT 1 FROM released LIMIT 1) AS any_released`;

/**
 * Takes the `$5` lanes whose lease is free, expired, held by a dead session, or already held by
 * session `$2`/`$3` (see `acquire`) for replica `$1`, with a TTL of `$4` ms.
 */
const ACQUIRE = `
  UPDATE baton_leases l
  SET holder = $1, holder_pid = $2, holder_started = $3::timestamptz,
      term = CASE WHEN l.holder_pid = $2 AND l.holder_started = $3::timestamptz AND l.term >= fence.term
                  THEN l.term ELSE GREATEST(l.term, fence.term) + 1 END,
      expires_at = clock_timestamp() + make_interval(secs => $4::float8 / 1000),
      reserved_for = NULL, reserved_until = NULL
  FROM baton_lanes fence
  WHERE fence.lane = l.lane AND l.lane = ANY($5::text[])
    AND (l.holder_pid IS NULL
         OR l.expires_at IS NULL
         OR l.expires_at <= clock_timestamp()
         OR (l.holder_pid = $2 AND l.holder_started = $3::timestamptz)
         OR NOT ${sessionAlive('l.holder_pid', 'l.holder_started')})
    AND (l.reserved_for IS NULL
         OR l.reserved_for = $1
         OR l.reserved_until <= clock_timestamp()
         OR NOT EXISTS (SELECT 1 FROM baton_replicas r
                        WHERE r.id = l.reserved_for AND ${sessionAlive('r.session_pid', 'r.session_started')}))
  RETURNING l.lane, l.term`;

/** The leases of `$3` lanes that session `$1`/`$2` holds, with the milliseconds of TTL left. */
const CONFIRM = `
  SELECT lane, term, extract(epoch FROM expires_at - clock_timestamp())::float8 * 1000 AS left_ms
  FROM baton_leases
  WHERE holder_pid = $1 AND holder_started = $2::timestamptz AND lane = ANY($3::text[])`;

/** A `baton_leases` notice that a lease was handed to replica `to`; null for a plain poke. */
export function parseLeaseGrant(payload: string): { lane: string; term: number; to: string } | null {
  if (!payload.startsWith('{')) return null;
  try {
    const m = JSON.parse(payload) as Record<string, unknown>;
    const { grant, term, to } = m;
    if (typeof grant !== 'string' || typeof to !== 'string' || !Number.isSafeInteger(term)) return null;
    return { lane: grant, term: term as number, to };
  } catch {
    return null;
  }
}

export interface PostgresElectorOptions {
  url: string;
  replicaId: string;
  timings: LeaseTimings;
  logger: Logger;
  /** Runs on every new session, on the elector's own connection (e.g. to record the session id). */
  onSession?: (conn: DedicatedConnection) => Promise<void>;
}

/**
 * Lane leases in PostgreSQL (table baton_leases), judged by the database clock. A lease also
 * dies with its holder's database session: a candidate takes a lane whose holder's backend is
 * gone from pg_stat_activity at its next acquire tick, so a killed leader is replaced in
 * milliseconds instead of after the TTL. Each tick costs one query however many lanes there are.
 */
export class PostgresElector implements Elector {
  readonly kind = 'postgres';
  readonly events = new TypedEvents<ElectorEvents>();
  private readonly conn: DedicatedConnection;
  private readonly held = new Map<string, Held>();
  /** Leases other replicas say they handed to this one, not yet confirmed by this replica's read. */
  private readonly grants = new Map<string, number>();
  private candidacy = new Set<string>();
  private session: Session | null = null;
  private lastRenewSent = 0;
  private readonly waker = new Waker();
  private readonly queries: ElectorQueryCounts = { acquire: 0, renew: 0, resign: 0 };

  constructor(private readonly options: PostgresElectorOptions) {
    this.conn = new DedicatedConnection({
      url: options.url,
      name: `elector:${options.replicaId}`,
      logger: options.logger,
      queryTimeoutMs: Math.max(200, options.timings.renewDeadlineMs - options.timings.renewIntervalMs),
    });
  }

  setCandidacy(lanes: Iterable<string>): void {
    this.candidacy = new Set(lanes);
  }

  holds(lane: string, term: number): boolean {
    const held = this.held.get(lane);
    return (
      held !== undefined &&
      held.term === term &&
      monotonicMs() - held.renewedAt < this.options.timings.renewDeadlineMs
    );
  }

  async resignAll(): Promise<void> {
    await this.resignLanes([...this.held.keys()]);
  }

  /** Queries sent so far, by kind: lease upkeep must not grow with the number of lanes. */
  queryCounts(): ElectorQueryCounts {
    return { ...this.queries };
  }

  /** Runs the next acquire tick now (e.g. when another replica resigned a lane). */
  poke(): void {
    this.waker.wake();
  }

  async resign(lane: string, to?: string): Promise<void> {
    await this.resignLanes([lane], to);
  }

  async resignTerm(lane: string, term: number): Promise<void> {
    if (this.held.get(lane)?.term === term) await this.resignLanes([lane]);
  }

  /**
   * Gives lanes up in one query and wakes the other replicas. With `to`, each lease goes straight
   * to that replica's live elector session under a new term, announced on `baton_leases` (see
   * `parseLeaseGrant`), so the successor skips its acquire round trip; if `to` is not live, the
   * lease is released but stays reserved for it (at most one TTL), and nobody else may take it.
   */
  async resignLanes(lanes: readonly string[], to?: string): Promise<void> {
    const given: Array<{ lane: string; term: number }> = [];
    for (const lane of lanes) {
      const held = this.held.get(lane);
      if (held) given.push({ lane, term: held.term });
    }
    if (given.length === 0) return;
    for (const { lane } of given) this.drop(lane, 'resigned');
    await this.release(given, to);
  }

  private async release(given: ReadonlyArray<{ lane: string; term: number }>, to?: string): Promise<void> {
    const session = this.session;
    if (!session) return;
    this.queries.resign++;
    await this.conn
      .query(
        RESIGN,
        [
          given.map((g) => g.lane),
          given.map((g) => g.term),
          session.pid,
          session.started,
          to ?? null,
          this.options.timings.ttlMs,
        ],
        'baton_resign',
      )
      .catch((error: unknown) =>
        this.options.logger.warn('resign failed; the leases will expire', { lanes: given.length, error }),
      );
  }

  granted(lane: string, term: number): void {
    if ((this.held.get(lane)?.term ?? 0) >= term || (this.grants.get(lane) ?? 0) >= term) return;
    this.grants.set(lane, term);
    if (this.candidacy.has(lane)) this.events.emit('lane:granted', { lane, term });
    this.waker.wake();
  }

  async run(signal: AbortSignal): Promise<void> {
    const offUp = this.conn.events.on('up', ({ client }) => void this.onSessionUp(client, signal));
    const offDown = this.conn.events.on('down', ({ error }) => this.onSessionDown(error));
    const connection = this.conn.run(signal);
    // Deadlines are enforced on their own timer: a tick can be stuck on a hung query.
    const deadlines = setInterval(() => this.enforceDeadlines(), 20);
    try {
      while (!signal.aborted) {
        this.enforceDeadlines();
        if (this.session) await this.tick();
        await this.waker.wait(this.options.timings.acquireIntervalMs, signal);
      }
    } finally {
      clearInterval(deadlines);
      for (const lane of [...this.held.keys()]) await this.resign(lane);
      offUp();
      offDown();
      await connection;
    }
  }

  private async onSessionUp(client: pg.Client, signal: AbortSignal): Promise<void> {
    try {
      const { rows } = await this.conn.query<{ pid: number; started: string }>(
        `SELECT pg_backend_pid() AS pid, ${OWN_SESSION_STARTED}::text AS started`,
      );
      const row = rows[0];
      if (!row || signal.aborted) return;
      await this.options.onSession?.(this.conn);
      this.session = { pid: row.pid, started: row.started };
      this.events.emit('session:up', { sessionId: `${row.pid}@${row.started}` });
    } catch (error) {
      // The connection may well stay up (a query timeout does not end it), and `run` only sets
      // up a session on a new connection: without a new one this replica would never campaign.
      this.options.logger.warn('elector session setup failed; reconnecting', { error });
      if (!signal.aborted) await this.conn.restart(client);
    }
  }

  /** Once the session is gone, others may take our lanes at once: stop leading immediately. */
  private onSessionDown(error: unknown): void {
    const hadSession = this.session !== null;
    this.session = null;
    this.grants.clear();
    for (const lane of [...this.held.keys()]) this.drop(lane, 'session-lost');
    if (hadSession) this.events.emit('session:down', { error });
  }

  private drop(lane: string, reason: LostReason): void {
    const held = this.held.get(lane);
    if (!held) return;
    this.held.delete(lane);
    this.options.logger.info('lane lost', { lane, term: held.term, reason });
    this.events.emit('lane:lost', { lane, term: held.term, reason });
  }

  private enforceDeadlines(): void {
    const now = monotonicMs();
    for (const [lane, held] of this.held) {
      if (now - held.renewedAt >= this.options.timings.renewDeadlineMs) this.drop(lane, 'renew-deadline');
    }
  }

  private async tick(): Promise<void> {
    const session = this.session!;
    try {
      if (this.held.size > 0 && monotonicMs() - this.lastRenewSent >= this.options.timings.renewIntervalMs) {
        await this.renew(session);
      }
      if (this.grants.size > 0) await this.confirmGrants(session);
      const wanted = [...this.candidacy].filter((lane) => !this.held.has(lane) && !this.grants.has(lane));
      if (wanted.length > 0) await this.acquire(session, wanted);
    } catch (error) {
      // A failing elector session cannot vouch for anything: end it, which drops our leases.
      this.options.logger.warn('elector query failed; restarting the session', { error });
      this.events.emit('lease:renew:error', { error });
      this.onSessionDown(error);
      await this.conn.restart();
    }
  }

  /** Extends this session's leases of the lanes it leads; one it does not track is left to expire. */
  private async renew(session: Session): Promise<void> {
    const sentAt = monotonicMs();
    this.lastRenewSent = sentAt;
    this.queries.renew++;
    const { rows } = await this.conn.query<{ lane: string; term: string }>(
      `UPDATE baton_leases SET expires_at = clock_timestamp() + make_interval(secs => $3::float8 / 1000)
       WHERE holder_pid = $1 AND holder_started = $2::timestamptz AND lane = ANY($4::text[])
       RETURNING lane, term`,
      [session.pid, session.started, this.options.timings.ttlMs, [...this.held.keys()]],
      'baton_renew',
    );
    const renewed = new Map(rows.map((r) => [r.lane, Number(r.term)]));
    for (const [lane, held] of [...this.held]) {
      if (renewed.get(lane) === held.term) held.renewedAt = sentAt;
      else this.drop(lane, 'lease-taken');
    }
  }

  /**
   * Confirms leases handed to this replica with a read (no write to wait for): each is held from
   * the moment this query was sent, minus the part of its TTL already gone, never from the
   * notice. One handed over for a lane this replica does not campaign for is released at once.
   */
  private async confirmGrants(session: Session): Promise<void> {
    const sentAt = monotonicMs();
    const confirming = new Map(this.grants);
    this.queries.renew++;
    const { rows } = await this.conn.query<{ lane: string; term: string; left_ms: number }>(
      CONFIRM,
      [session.pid, session.started, [...confirming.keys()]],
      'baton_confirm',
    );
    const found = new Map(rows.map((r) => [r.lane, { term: Number(r.term), leftMs: Number(r.left_ms) }]));
    const unwanted: Array<{ lane: string; term: number }> = [];
    for (const [lane, term] of confirming) {
      if (this.grants.get(lane) === term) this.grants.delete(lane);
      const lease = found.get(lane);
      if (lease?.term !== term || this.held.has(lane)) continue;
      if (!this.candidacy.has(lane)) {
        unwanted.push({ lane, term });
        continue;
      }
      const renewedAt = sentAt - Math.max(0, this.options.timings.ttlMs - lease.leftMs);
      // A lease that waited long for its confirmation is renewed on the next tick.
      if (sentAt - renewedAt >= this.options.timings.renewIntervalMs) this.lastRenewSent = 0;
      this.took(lane, term, renewedAt);
    }
    // Grants announced while the query ran stay in `grants`: the next tick confirms them.
    if (unwanted.length > 0) await this.release(unwanted);
  }

  private took(lane: string, term: number, renewedAt: number): void {
    this.held.set(lane, { term, renewedAt });
    this.options.logger.info('lane elected', { lane, term });
    this.events.emit('lane:elected', { lane, term });
  }

  /**
   * Takes lanes whose lease is free, expired, held by a dead session, or already held by this
   * session: one handed over a moment ago, or one this replica stopped tracking. Those keep their
   * term (the handover already made it new, and this process ran the older term's work to its
   * end); every other lane gets a term above both the lease's and the ledger's.
   */
  private async acquire(session: Session, lanes: string[]): Promise<void> {
    const sentAt = monotonicMs();
    this.queries.acquire++;
    const { rows } = await this.conn.query<{ lane: string; term: string }>(
      ACQUIRE,
      [this.options.replicaId, session.pid, session.started, this.options.timings.ttlMs, lanes],
      'baton_acquire',
    );
    for (const row of rows) this.took(row.lane, Number(row.term), sentAt);
  }
}
