import type pg from 'pg';
import type { JsonValue } from '../apps/app.js';
import type { BlockRecord, StateChange, TxResult } from './block.js';
import type { VerifiedTx } from './envelope.js';
import { GENESIS_PARENT } from '../db/migrations.js';

export interface LaneRow {
  lane: string;
  app: string;
  term: number;
  height: number;
}

export interface PendingTx {
  id: string;
  body: string;
}

export interface TxStatus {
  id: string;
  status: 'pending' | 'committed';
  height?: number;
  index?: number;
  ok?: boolean;
  error?: string;
}

export interface StateSnapshot {
  height: number;
  tipHash: string;
  tipTime: number;
  entries: Array<[string, JsonValue]>;
}

type CompactResult = [true] | [false, string];

interface BlockRow {
  lane: string;
  height: string;
  hash: string;
  parent_hash: string;
  term: string;
  producer: string;
  time_ms: string;
  tx_ids: string[];
  results: CompactResult[];
  changes: StateChange[];
}

function toBlock(row: BlockRow): BlockRecord {
  return {
    lane: row.lane,
    height: Number(row.height),
    hash: row.hash,
    parentHash: row.parent_hash,
    term: Number(row.term),
    producer: row.producer,
    time: new Date(Number(row.time_ms)).toISOString(),
    txs: row.tx_ids,
    results: row.results.map((r): TxResult => (r[0] ? { ok: true } : { ok: false, error: r[1] })),
    changes: row.changes,
  };
}

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const MAX_NOTICE_BYTES = 7900;

/** The block as JSON for the baton_block_data notification, or null when it is too large to send. */
export function blockNotice(block: BlockRecord): string | null {
  // Its ids alone (64 characters, quoted, comma) put most blocks under load over the limit:
  // serialising those only to drop them would cost every commit of a busy lane.
  if (block.txs.length * 67 > MAX_NOTICE_BYTES) return null;
  const notice = JSON.stringify(block);
  return Buffer.byteLength(notice) <= MAX_NOTICE_BYTES ? notice : null;
}

/** A block from a baton_block_data notification, or null when the payload is not block-shaped. */
export function blockFromNotice(payload: string): BlockRecord | null {
  try {
    const b = JSON.parse(payload) as BlockRecord;
    const shaped =
      typeof b.lane === 'string' &&
      Number.isSafeInteger(b.height) &&
      typeof b.hash === 'string' &&
      typeof b.parentHash === 'string' &&
      Array.isArray(b.txs) &&
      Array.isArray(b.results) &&
      Array.isArray(b.changes);
    return shaped ? b : null;
  } catch {
    return null;
  }
}

const CLAIM_TERMS = `
  WITH c AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS c(lane, term)),
       up AS (UPDATE baton_lanes l SET term = c.term FROM c
              WHERE l.lane = c.lane AND l.term < c.term RETURNING l.lane, l.term, l.height)
  SELECT c.lane, coalesce(up.term, l.term) AS term, coalesce(up.height, l.height) AS height
  FROM c LEFT JOIN up ON up.lane = c.lane LEFT JOIN baton_lanes l ON l.lane = c.lane`;

const PENDING_OF = `
  SELECT l.lane, t.id, t.body FROM unnest($1::text[]) AS l(lane)
  CROSS JOIN LATERAL (SELECT id, body FROM baton_txs
                      WHERE lane = l.lane AND height IS NULL ORDER BY seq LIMIT $2) AS t`;

/**
 * Runs, for no lanes, the statements a replica sends the moment it takes lanes over, so that the
 * connection's server process has the tables and indexes in its caches by then: a new
 * connection's first statement on a table costs more than the claim itself.
 */
export async function warmConnection(client: pg.ClientBase): Promise<void> {
  await client.query(CLAIM_TERMS, [[], []]);
  await client.query(PENDING_OF, [[], 1]);
}

const BLOCK_COLUMNS = 'lane, height, hash, parent_hash, term, producer, time_ms, tx_ids, results, changes';

/** All ledger SQL. Every method is one round trip; multi-statement work lives in SQL functions. */
export class LedgerStore {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Creates a lane unless it exists, and tells every replica (channel baton_lanes).
   * Returns the lane's app and whether this call created it.
   */
  async ensureLane(lane: string, app: string): Promise<{ app: string; created: boolean }> {
    // One statement: the lease row's foreign key is checked at its end, after the lane insert.
    const { rows } = await this.pool.query<{ created: boolean; app: string }>(
      `WITH l AS (INSERT INTO baton_lanes (lane, app) VALUES ($1, $2) ON CONFLICT (lane) DO NOTHING RETURNING app),
            s AS (INSERT INTO baton_leases (lane) VALUES ($1) ON CONFLICT (lane) DO NOTHING),
            n AS (SELECT pg_notify('baton_lanes', $1) FROM l)
       SELECT EXISTS (SELECT 1 FROM l) AS created,
              coalesce((SELECT app FROM l), (SELECT app FROM baton_lanes WHERE lane = $1)) AS app
       FROM (SELECT count(*) FROM n) AS notified`,
      [lane, app],
    );
    return { created: rows[0]?.created ?? false, app: rows[0]?.app ?? app };
  }

  /** Creates the lanes that do not exist yet, in one statement (a replica starting with many lanes). */
  async ensureLanes(lanes: readonly string[], app: string): Promise<void> {
    await this.pool.query(
      `WITH l AS (INSERT INTO baton_lanes (lane, app) SELECT x, $2 FROM unnest($1::text[]) AS x
                  ON CONFLICT (lane) DO NOTHING RETURNING lane),
            n AS (SELECT pg_notify('baton_lanes', lane) FROM l)
       INSERT INTO baton_leases (lane) SELECT x FROM unnest($1::text[]) AS x
       WHERE (SELECT count(*) FROM n) >= 0
       ON CONFLICT (lane) DO NOTHING`,
      [lanes, app],
    );
  }

  async lane(lane: string): Promise<LaneRow | null> {
    const { rows } = await this.pool.query<{ lane: string; app: string; term: string; height: string }>(
      'SELECT lane, app, term, height FROM baton_lanes WHERE lane = $1',
      [lane],
    );
    const r = rows[0];
    return r ? { lane: r.lane, app: r.app, term: Number(r.term), height: Number(r.height) } : null;
  }

  async lanes(): Promise<LaneRow[]> {
    const { rows } = await this.pool.query<{ lane: string; app: string; term: string; height: string }>(
      'SELECT lane, app, term, height FROM baton_lanes ORDER BY lane',
    );
    return rows.map((r) => ({ lane: r.lane, app: r.app, term: Number(r.term), height: Number(r.height) }));
  }

  /** Stores verified transactions durably; returns the ids that were new (the rest were known). */
  async intake(txs: readonly VerifiedTx[]): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ baton_intake: string }>(
      'SELECT baton_intake($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])',
      [
        txs.map((t) => t.id),
        txs.map((t) => t.lane),
        txs.map((t) => t.body),
        txs.map((t) => t.signer),
        txs.map((t) => t.signature),
      ],
    );
    return new Set(rows.map((r) => r.baton_intake));
  }

  async txStatuses(lane: string, ids: readonly string[]): Promise<Map<string, TxStatus>> {
    const { rows } = await this.pool.query<{
      id: string;
      height: string | null;
      idx: number | null;
      ok: boolean | null;
      error: string | null;
    }>('SELECT id, height, idx, ok, error FROM baton_txs WHERE lane = $1 AND id = ANY($2::text[])', [
      lane,
      ids,
    ]);
    const out = new Map<string, TxStatus>();
    for (const r of rows) {
      if (r.height === null) {
        out.set(r.id, { id: r.id, status: 'pending' });
      } else {
        const status: TxStatus = {
          id: r.id,
          status: 'committed',
          height: Number(r.height),
          index: r.idx ?? 0,
          ok: r.ok ?? false,
        };
        if (r.error !== null) status.error = r.error;
        out.set(r.id, status);
      }
    }
    return out;
  }

  async pending(lane: string, limit: number): Promise<PendingTx[]> {
    const { rows } = await this.pool.query<PendingTx>(
      'SELECT id, body FROM baton_txs WHERE lane = $1 AND height IS NULL ORDER BY seq LIMIT $2',
      [lane, limit],
    );
    return rows;
  }

  /** `pending` for several lanes in one query; one list per lane, in order. */
  async pendingOf(lanes: readonly string[], limit: number): Promise<PendingTx[][]> {
    const { rows } = await this.pool.query<PendingTx & { lane: string }>(PENDING_OF, [
      [...new Set(lanes)],
      limit,
    ]);
    const byLane = new Map<string, PendingTx[]>(lanes.map((lane) => [lane, []]));
    for (const { lane, id, body } of rows) byLane.get(lane)!.push({ id, body });
    return lanes.map((lane) => [...byLane.get(lane)!]);
  }

  /** Which of `lanes` have pending transactions (one index probe per lane). */
  async lanesWithPending(lanes: readonly string[]): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ lane: string }>(
      `SELECT l AS lane FROM unnest($1::text[]) AS l
       WHERE EXISTS (SELECT 1 FROM baton_txs t WHERE t.lane = l AND t.height IS NULL)`,
      [lanes],
    );
    return new Set(rows.map((r) => r.lane));
  }

  /** Pending transactions per lane (lanes without any are absent). */
  async pendingCounts(): Promise<Map<string, number>> {
    const { rows } = await this.pool.query<{ lane: string; n: string }>(
      'SELECT lane, count(*) AS n FROM baton_txs WHERE height IS NULL GROUP BY lane',
    );
    return new Map(rows.map((r) => [r.lane, Number(r.n)]));
  }

  async pendingCount(lane: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM baton_txs WHERE lane = $1 AND height IS NULL',
      [lane],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Raises the lane's fencing term to `term` and returns the lane's height at that moment: no block
   * of an older term can be added after it. Null when the lane already has a newer term.
   */
  async claimTerm(lane: string, term: number): Promise<number | null> {
    return (await this.claimTerms([{ lane, term }]))[0]!;
  }

  /** `claimTerm` for several lanes in one statement; one answer per claim, in order. */
  async claimTerms(claims: ReadonlyArray<{ lane: string; term: number }>): Promise<Array<number | null>> {
    // A lane claimed twice in one batch: only its newest term can win.
    const highest = new Map<string, number>();
    for (const { lane, term } of claims) highest.set(lane, Math.max(term, highest.get(lane) ?? term));
    const { rows } = await this.pool.query<{ lane: string; term: string; height: string }>(CLAIM_TERMS, [
      [...highest.keys()],
      [...highest.values()],
    ]);
    const byLane = new Map(rows.map((r) => [r.lane, r]));
    return claims.map(({ lane, term }) => {
      const row = byLane.get(lane);
      return row && Number(row.term) === term ? Number(row.height) : null;
    });
  }

  /**
   * Commits a block with its receipts, state writes and mempool update in one fenced transaction.
   * A block small enough travels in the commit notification too (see `blockNotice`).
   */
  async commitBlock(block: BlockRecord): Promise<void> {
    await this.pool.query(
      'SELECT baton_commit_block($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)',
      [
        block.lane,
        block.height,
        block.hash,
        block.parentHash,
        block.term,
        block.producer,
        Date.parse(block.time),
        block.txs,
        block.results.map((r) => r.ok),
        block.results.map((r) => (r.ok ? null : r.error)),
        JSON.stringify(block.results.map((r) => (r.ok ? [true] : [false, r.error]))),
        JSON.stringify(block.changes),
        blockNotice(block),
      ],
    );
  }

  async blocksAfter(lane: string, after: number, limit: number): Promise<BlockRecord[]> {
    const { rows } = await this.pool.query<BlockRow>(
      `SELECT ${BLOCK_COLUMNS} FROM baton_blocks WHERE lane = $1 AND height > $2 ORDER BY height LIMIT $3`,
      [lane, after, limit],
    );
    return rows.map(toBlock);
  }

  async snapshot(lane: string): Promise<StateSnapshot> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const tip = await client.query<{ height: string; tip_hash: string; tip_time: string }>(
        'SELECT height, tip_hash, tip_time FROM baton_lanes WHERE lane = $1',
        [lane],
      );
      const state = await client.query<{ key: string; value: JsonValue }>(
        'SELECT key, value FROM baton_state WHERE lane = $1',
        [lane],
      );
      await client.query('COMMIT');
      const row = tip.rows[0];
      return {
        height: Number(row?.height ?? 0),
        tipHash: row?.tip_hash ?? GENESIS_PARENT,
        tipTime: Number(row?.tip_time ?? 0),
        entries: state.rows.map((r) => [r.key, r.value]),
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async stateValue(lane: string, key: string): Promise<JsonValue | undefined> {
    const { rows } = await this.pool.query<{ value: JsonValue }>(
      'SELECT value FROM baton_state WHERE lane = $1 AND key = $2',
      [lane, key],
    );
    return rows[0]?.value;
  }
}
