import type pg from 'pg';

/** What a lane's clients can observe of the ledger: state rows, the chain, and every stored transaction. */
export interface LedgerSnapshot {
  state: Array<{ lane: string; key: string; value: unknown }>;
  blocks: Array<{ lane: string; height: number; hash: string }>;
  txs: Array<{ id: string; lane: string }>;
}

/** The whole ledger of every lane, in a stable order, read in one snapshot of the database. */
export async function ledgerSnapshot(client: pg.ClientBase): Promise<LedgerSnapshot> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const state = await client.query<{ lane: string; key: string; value: unknown }>(
      'SELECT lane, key, value FROM baton_state ORDER BY lane, key',
    );
    const blocks = await client.query<{ lane: string; height: string; hash: string }>(
      'SELECT lane, height, hash FROM baton_blocks ORDER BY lane, height',
    );
    const txs = await client.query<{ id: string; lane: string }>(
      'SELECT id, lane FROM baton_txs ORDER BY id',
    );
    return {
      state: state.rows,
      blocks: blocks.rows.map((b) => ({ lane: b.lane, height: Number(b.height), hash: b.hash })),
      txs: txs.rows,
    };
  } finally {
    await client.query('COMMIT');
  }
}
