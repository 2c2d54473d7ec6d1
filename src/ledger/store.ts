import type pg from 'pg';
import type { JsonValue } from '../apps/app.js';
import {
  compactResult,
  expandResult,
  type BlockRecord,
  type CompactResult,
  type StateChange,
} from './block.js';
import type { VerifiedTx } from './envelope.js';
import { GENESIS_PARENT } from '../db/migrations.js';
import { blockNotice } from './block-notice.js';
import { versionSpans, type VersionSpan } from './version-spans.js';

export { blockFromNotice, blockNotice } from './block-notice.js';
export type { VersionSpan } from './version-spans.js';

export interface LaneRow {
  lane: string;
  app: string;
  term: number;
  height: number;
  /** The active app version (null for a lane from before versions, until its next block). */
  version: string | null;
  /** The version an operator proposed to switch to, until a block switches. */
  proposedVersion: string | null;
  /** Keys whose approvals an upgrade needs (none: the admin's word suffices) … */
  approvers: string[];
  /** … and how many of them. */
  quorum: number;
}

/** New lanes start on `version`; an upgrade of a lane with approvers needs `quorum` of them. */
export interface LaneSpec {
  app: string;
  version: string;
  approvers?: readonly string[];
  quorum?: number;
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
  /** What the app returned for a committed transaction it accepted, when it returned something. */
  result?: JsonValue;
}

export interface StateSnapshot {
  height: number;
  tipHash: string;
  tipTime: number;
  /** The lane's active app version at that height. */
  version: string | null;
  entries: Array<[string, JsonValue]>;
  /** `entries` holds every key of the lane (default true); false: none were loaded. */
  complete?: boolean;
}

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
  version: string | null;
  upgrade: string | null;
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
    results: row.results.map(expandResult),
    changes: row.changes,
    version: row.version,
    ...(row.upgrade !== null ? { upgrade: row.upgrade } : {}),
  };
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

const BLOCK_COLUMNS =
  'lane, height, hash, parent_hash, term, producer, time_ms, tx_ids, results, changes, version, upgrade';
const LANE_COLUMNS = 'lane, app, term, height, version, proposed_version, approvers, quorum';

interface LaneDbRow {
  lane: string;
  app: string;
  term: string;
  height: string;
  version: string | null;
  proposed_version: string | null;
  approvers: string[];
  quorum: number;
}

function toLane(r: LaneDbRow): LaneRow {
  return {
    lane: r.lane,
    app: r.app,
    term: Number(r.term),
    height: Number(r.height),
    version: r.version,
    proposedVersion: r.proposed_version,
    approvers: r.approvers,
    quorum: r.quorum,
  };
}

/** All ledger SQL. Every method is one round trip; multi-statement work lives in SQL functions. */
export class LedgerStore {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Creates a lane unless it exists, and tells every replica (channel baton_lanes).
   * Returns the lane as it is and whether this call created it.
   */
  async ensureLane(lane: string, spec: LaneSpec): Promise<{ row: LaneRow; created: boolean }> {
    // One statement: the lease row's foreign key is checked at its end, after the lane insert.
    // The lane comes back from the insert, or, when it existed, as the statement's snapshot has it.
    const { rows } = await this.pool.query<LaneDbRow & { created: boolean }>(
      `WITH l AS (INSERT INTO baton_lanes (lane, app, version, approvers, quorum) VALUES ($1, $2, $3, $4, $5)
                  ON CONFLICT (lane) DO NOTHING RETURNING ${LANE_COLUMNS}),
            s AS (INSERT INTO baton_leases (lane) VALUES ($1) ON CONFLICT (lane) DO NOTHING),
            n AS (SELECT pg_notify('baton_lanes', $1) FROM l)
       SELECT *, true AS created FROM l WHERE (SELECT count(*) FROM n) >= 0
       UNION ALL
       SELECT ${LANE_COLUMNS}, false FROM baton_lanes WHERE lane = $1 AND NOT EXISTS (SELECT 1 FROM l)`,
      [lane, spec.app, spec.version, spec.approvers ?? [], spec.quorum ?? 0],
    );
    const row = rows[0];
    if (!row) throw new Error(`lane ${lane} was neither created nor found`);
    return { row: toLane(row), created: row.created };
  }

  /** Creates the lanes that do not exist yet, in one statement (a replica starting with many lanes). */
  async ensureLanes(lanes: readonly string[], spec: LaneSpec): Promise<void> {
    await this.pool.query(
      `WITH l AS (INSERT INTO baton_lanes (lane, app, version) SELECT x, $2, $3 FROM unnest($1::text[]) AS x
                  ON CONFLICT (lane) DO NOTHING RETURNING lane),
            n AS (SELECT pg_notify('baton_lanes', lane) FROM l)
       INSERT INTO baton_leases (lane) SELECT x FROM unnest($1::text[]) AS x
       WHERE (SELECT count(*) FROM n) >= 0
       ON CONFLICT (lane) DO NOTHING`,
      [lanes, spec.app, spec.version],
    );
  }

  async lane(lane: string): Promise<LaneRow | null> {
    const { rows } = await this.pool.query<LaneDbRow>(
      `SELECT ${LANE_COLUMNS} FROM baton_lanes WHERE lane = $1`,
      [lane],
    );
    return rows[0] ? toLane(rows[0]) : null;
  }

  /** The lane's committed height now (null: no such lane). */
  async laneHeight(lane: string): Promise<number | null> {
    const { rows } = await this.pool.query<{ height: string }>(
      'SELECT height FROM baton_lanes WHERE lane = $1',
      [lane],
    );
    return rows[0] ? Number(rows[0].height) : null;
  }

  async lanes(): Promise<LaneRow[]> {
    const { rows } = await this.pool.query<LaneDbRow>(
      `SELECT ${LANE_COLUMNS} FROM baton_lanes ORDER BY lane`,
    );
    return rows.map(toLane);
  }

  /**
   * Proposes switching the lane to `version` (replacing an earlier proposal) and tells every
   * replica. False when the lane already runs it.
   */
  async proposeUpgrade(lane: string, version: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `WITH u AS (UPDATE baton_lanes SET proposed_version = $2
                  WHERE lane = $1 AND version IS DISTINCT FROM $2 RETURNING lane)
       SELECT pg_notify('baton_lanes', lane) FROM u`,
      [lane, version],
    );
    return rowCount === 1;
  }

  /**
   * Each app version of the lane's chain with its first and last height, oldest first. Read from
   * the blocks where a version can begin (the first, the first with a version, and those that
   * switched versions) and the tip, not from every block.
   */
  async versions(lane: string): Promise<VersionSpan[]> {
    const { rows } = await this.pool.query<{
      height: string;
      version: string | null;
      upgrade: string | null;
    }>(
      `(SELECT height, version, upgrade FROM baton_blocks WHERE lane = $1 ORDER BY height LIMIT 1)
       UNION
       (SELECT height, version, upgrade FROM baton_blocks WHERE lane = $1 AND version IS NOT NULL
        ORDER BY height LIMIT 1)
       UNION
       (SELECT height, version, upgrade FROM baton_blocks WHERE lane = $1 AND upgrade IS NOT NULL)
       UNION
       (SELECT height, version, upgrade FROM baton_blocks WHERE lane = $1 ORDER BY height DESC LIMIT 1)
       ORDER BY height`,
      [lane],
    );
    return versionSpans(
      rows.map((r) => ({ height: Number(r.height), version: r.version, upgrade: r.upgrade })),
    );
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
      result: JsonValue;
    }>('SELECT id, height, idx, ok, error, result FROM baton_txs WHERE lane = $1 AND id = ANY($2::text[])', [
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
        if (r.result !== null) status.result = r.result;
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
      'SELECT baton_commit_versioned_block($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)',
      [
        block.lane,
        block.height,
        block.hash,
        block.parentHash,
        block.term,
        block.producer,
        Date.parse(block.time),
        block.version,
        block.upgrade ?? null,
        block.txs,
        block.results.map((r) => r.ok),
        block.results.map((r) => (r.ok ? null : r.error)),
        JSON.stringify(block.results.map((r) => (r.ok ? (r.result ?? null) : null))),
        JSON.stringify(block.results.map(compactResult)),
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

  /**
   * The lane's tip and, when it has at most `maxKeys` keys, its whole state (`complete`), read in
   * one snapshot. A larger lane's state is left to be read key by key (`stateRows`).
   */
  async snapshot(lane: string, maxKeys = Number.POSITIVE_INFINITY): Promise<StateSnapshot> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const tip = await client.query<{
        height: string;
        tip_hash: string;
        tip_time: string;
        version: string | null;
      }>('SELECT height, tip_hash, tip_time, version FROM baton_lanes WHERE lane = $1', [lane]);
      let complete = true;
      if (Number.isFinite(maxKeys)) {
        const { rows } = await client.query<{ over: boolean }>(
          'SELECT count(*) > $2 AS over FROM (SELECT 1 FROM baton_state WHERE lane = $1 LIMIT $2 + 1) AS s',
          [lane, maxKeys],
        );
        complete = !rows[0]!.over;
      }
      const state = complete
        ? await client.query<{ key: string; value: JsonValue }>(
            'SELECT key, value FROM baton_state WHERE lane = $1',
            [lane],
          )
        : { rows: [] };
      await client.query('COMMIT');
      const row = tip.rows[0];
      return {
        height: Number(row?.height ?? 0),
        tipHash: row?.tip_hash ?? GENESIS_PARENT,
        tipTime: Number(row?.tip_time ?? 0),
        version: row?.version ?? null,
        entries: state.rows.map((r) => [r.key, r.value]),
        complete,
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** The stored values of some keys of a lane, with the height of the block that wrote each. */
  async stateRows(
    lane: string,
    keys: readonly string[],
  ): Promise<Array<{ key: string; value: JsonValue; height: number }>> {
    const { rows } = await this.pool.query<{ key: string; value: JsonValue; height: string }>(
      'SELECT key, value, height FROM baton_state WHERE lane = $1 AND key = ANY($2::text[])',
      [lane, keys],
    );
    return rows.map((r) => ({ key: r.key, value: r.value, height: Number(r.height) }));
  }

  /** The stored bodies of transactions of a lane, by id. */
  async txBodies(lane: string, ids: readonly string[]): Promise<Map<string, string>> {
    const { rows } = await this.pool.query<{ id: string; body: string }>(
      'SELECT id, body FROM baton_txs WHERE lane = $1 AND id = ANY($2::text[])',
      [lane, ids],
    );
    return new Map(rows.map((r) => [r.id, r.body]));
  }
}
