import assert from 'node:assert/strict';
import { GENESIS_PARENT } from '../../src/db/migrations.js';
import { withClient } from './postgres.js';

export interface LedgerFacts {
  height: number;
  blocks: Array<{
    height: number;
    hash: string;
    parentHash: string;
    term: number;
    producer: string;
    txs: string[];
  }>;
}

/**
 * Checks the invariants against the database itself: a single gapless hash chain, terms
 * that never go back, every acknowledged transaction in exactly one block, and total supply
 * equal to the committed faucet amounts and to the sum of balances.
 */
export async function checkLedger(
  url: string,
  acked: ReadonlyMap<string, number>,
  lane = 'main',
): Promise<LedgerFacts> {
  return withClient(url, async (c) => {
    // One snapshot for every query: submissions still in flight may commit meanwhile.
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await c.query<{
      height: string;
      hash: string;
      parent_hash: string;
      term: string;
      producer: string;
      tx_ids: string[];
    }>(
      'SELECT height, hash, parent_hash, term, producer, tx_ids FROM baton_blocks WHERE lane = $1 ORDER BY height',
      [lane],
    );
    const blocks = rows.map((r) => ({
      height: Number(r.height),
      hash: r.hash,
      parentHash: r.parent_hash,
      term: Number(r.term),
      producer: r.producer,
      txs: r.tx_ids,
    }));
    let parent = GENESIS_PARENT;
    let term = 0;
    const seen = new Set<string>();
    for (const [i, b] of blocks.entries()) {
      assert.equal(b.height, i + 1, 'heights are gapless from 1');
      assert.equal(b.parentHash, parent, `block ${b.height} links to its parent`);
      assert.ok(b.term >= term, `term goes back at height ${b.height}: ${b.term} < ${term}`);
      for (const id of b.txs) {
        assert.ok(!seen.has(id), `transaction ${id} is in two blocks`);
        seen.add(id);
      }
      parent = b.hash;
      term = b.term;
    }
    const missing = [...acked.keys()].filter((id) => !seen.has(id));
    assert.deepEqual(missing, [], `${missing.length} acknowledged transactions are in no block`);

    const receipts = await c.query<{ n: string; pending: string }>(
      'SELECT count(*) FILTER (WHERE height IS NOT NULL) AS n, count(*) FILTER (WHERE height IS NULL) AS pending FROM baton_txs WHERE lane = $1',
      [lane],
    );
    assert.equal(Number(receipts.rows[0]!.n), seen.size, 'receipts match block contents');

    const faucets = await c.query<{ body: string }>(
      'SELECT body FROM baton_txs WHERE lane = $1 AND ok AND body LIKE \'%"kind":"faucet"%\'',
      [lane],
    );
    const minted = faucets.rows.reduce(
      (sum, r) => sum + (JSON.parse(r.body) as { args: { amount: number } }).args.amount,
      0,
    );
    const state = await c.query<{ key: string; value: number }>(
      'SELECT key, value FROM baton_state WHERE lane = $1',
      [lane],
    );
    const supply = state.rows.find((r) => r.key === 'supply')?.value ?? 0;
    const balances = state.rows
      .filter((r) => r.key.startsWith('balance:'))
      .reduce((sum, r) => sum + r.value, 0);
    assert.equal(supply, minted, 'supply equals committed faucet amounts');
    assert.equal(balances, minted, 'balances add up to the supply');
    const ackedMinted = [...acked.values()].reduce((a, b) => a + b, 0);
    assert.ok(minted >= ackedMinted, 'every acknowledged faucet amount is minted');
    await c.query('COMMIT');
    return { height: blocks.length, blocks };
  });
}

/** The number of committed transactions among `ids`. */
export async function committedCount(url: string, ids: readonly string[]): Promise<number> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      'SELECT count(*) AS n FROM baton_txs WHERE id = ANY($1::text[]) AND height IS NOT NULL',
      [ids],
    );
    return Number(rows[0]!.n);
  });
}

export async function tipHeight(url: string, lane = 'main'): Promise<number> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ h: string }>('SELECT height AS h FROM baton_lanes WHERE lane = $1', [
      lane,
    ]);
    return Number(rows[0]?.h ?? 0);
  });
}
