import pg from 'pg';
import { SUPPLY_KEY, tokenApp } from '../apps/token.js';

/** A block with what the checker needs; `time` in epoch milliseconds. */
export interface LedgerBlock {
  height: number;
  hash: string;
  parentHash: string;
  term: number;
  producer: string;
  time: number;
  txs: string[];
  /** Per transaction: did the app accept it (known from the database only). */
  results?: boolean[];
}

export interface Receipt {
  height: number;
  index: number;
  ok: boolean;
}

/** What a transaction asked for (of any app; the token model reads `amount` and `to`). */
export interface TxBody {
  from: string;
  kind: string;
  args: Record<string, unknown>;
}

/** One lane as one source saw it: the database, or a replica through its HTTP API. */
export interface LedgerSnapshot {
  lane: string;
  /** The lane's app: the token model applies to token lanes alone. */
  app?: string;
  source: string;
  blocks: LedgerBlock[];
  /** Committed transactions by the receipts table (database only). */
  receipts?: Map<string, Receipt>;
  /** Bodies of committed transactions (database only). */
  bodies?: Map<string, TxBody>;
  /** Account balances: every account of the lane when `allAccounts`, else the ones asked for (none on other apps' lanes). */
  balances: Map<string, number>;
  allAccounts: boolean;
  /** The token app's supply counter (database only). */
  supply?: number;
  /** Transactions still in the mempool (database only). */
  pending?: number;
}

function parseBody(text: string): TxBody | null {
  try {
    const body = JSON.parse(text) as Partial<TxBody>;
    if (typeof body.from !== 'string' || typeof body.kind !== 'string') return null;
    const args = typeof body.args === 'object' && body.args !== null ? body.args : {};
    return { from: body.from.toLowerCase(), kind: body.kind, args };
  } catch {
    return null;
  }
}

/** Reads one lane from the database in one consistent snapshot (REPEATABLE READ). */
export async function loadLedger(client: pg.ClientBase, lane: string): Promise<LedgerSnapshot> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const blocks = await client.query<{
      height: string;
      hash: string;
      parent_hash: string;
      term: string;
      producer: string;
      time_ms: string;
      tx_ids: string[];
      results: Array<[boolean, ...unknown[]]>;
    }>(
      `SELECT height, hash, parent_hash, term, producer, time_ms, tx_ids, results
       FROM baton_blocks WHERE lane = $1 ORDER BY height`,
      [lane],
    );
    const txs = await client.query<{ id: string; height: string; idx: number; ok: boolean; body: string }>(
      'SELECT id, height, idx, ok, body FROM baton_txs WHERE lane = $1 AND height IS NOT NULL',
      [lane],
    );
    const laneRow = await client.query<{ app: string }>('SELECT app FROM baton_lanes WHERE lane = $1', [
      lane,
    ]);
    const pending = await client.query<{ n: string }>(
      'SELECT count(*) AS n FROM baton_txs WHERE lane = $1 AND height IS NULL',
      [lane],
    );
    const state = await client.query<{ key: string; value: unknown }>(
      `SELECT key, value FROM baton_state WHERE lane = $1 AND (key = $2 OR key LIKE 'balance:%')`,
      [lane, SUPPLY_KEY],
    );
    await client.query('COMMIT');
    const receipts = new Map<string, Receipt>();
    const bodies = new Map<string, TxBody>();
    for (const r of txs.rows) {
      receipts.set(r.id, { height: Number(r.height), index: r.idx, ok: r.ok });
      const body = parseBody(r.body);
      if (body) bodies.set(r.id, body);
    }
    const balances = new Map<string, number>();
    let supply = 0;
    for (const r of state.rows) {
      if (r.key === SUPPLY_KEY) supply = Number(r.value);
      else balances.set(r.key.slice('balance:'.length), Number(r.value));
    }
    return {
      lane,
      ...(laneRow.rows[0] ? { app: laneRow.rows[0].app } : {}),
      source: 'database',
      blocks: blocks.rows.map((b) => ({
        height: Number(b.height),
        hash: b.hash,
        parentHash: b.parent_hash,
        term: Number(b.term),
        producer: b.producer,
        time: Number(b.time_ms),
        txs: b.tx_ids,
        results: b.results.map((r) => r[0] === true),
      })),
      receipts,
      bodies,
      balances,
      allAccounts: true,
      supply,
      pending: Number(pending.rows[0]?.n ?? 0),
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** loadLedger over a short-lived connection to `url`. */
export async function loadLedgerFromUrl(url: string, lane: string): Promise<LedgerSnapshot> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await loadLedger(client, lane);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(url, {
    signal: AbortSignal.any([AbortSignal.timeout(5_000), ...(signal ? [signal] : [])]),
  });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/**
 * One lane as a replica serves it over HTTP: its app, its blocks up to `upTo` and, on a token
 * lane, the given accounts' balances.
 */
export async function loadReplicaLedger(
  replica: { id: string; url: string },
  lane: string,
  accounts: readonly string[],
  upTo = Number.MAX_SAFE_INTEGER,
  signal?: AbortSignal,
): Promise<LedgerSnapshot> {
  const base = `${replica.url.replace(/\/+$/, '')}/v1/lanes/${encodeURIComponent(lane)}`;
  const { app } = await getJson<{ app: string }>(base, signal);
  const blocks: LedgerBlock[] = [];
  for (let from = 1; from <= upTo;) {
    const limit = Math.min(1_000, upTo - from + 1);
    const page = await getJson<{
      blocks: Array<Omit<LedgerBlock, 'time'> & { time: string }>;
    }>(`${base}/blocks?from=${from}&limit=${limit}`, signal);
    for (const b of page.blocks) blocks.push({ ...b, time: Date.parse(b.time) });
    if (page.blocks.length < limit) break;
    from += page.blocks.length;
  }
  const balances = new Map<string, number>();
  for (const account of app === tokenApp.name ? accounts : []) {
    const { balance } = await getJson<{ balance: number }>(`${base}/accounts/${account}`, signal);
    balances.set(account.toLowerCase(), balance);
  }
  return { lane, app, source: replica.id, blocks, balances, allAccounts: false };
}
