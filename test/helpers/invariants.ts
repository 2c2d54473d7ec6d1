import assert from 'node:assert/strict';
import { checkSnapshot, notCommitted } from '../../src/chaos/check-ledger.js';
import { loadLedger, type LedgerBlock } from '../../src/chaos/ledger.js';
import { describeViolation } from '../../src/chaos/violations.js';
import { withClient } from './postgres.js';

export interface LedgerFacts {
  height: number;
  blocks: LedgerBlock[];
}

/**
 * Checks the invariants against the database itself, with the chaos checker's rules: a single
 * gapless hash chain, terms that never go back, every transaction in at most one block and
 * every acknowledged one in a block, state equal to a model replay, and total supply equal to
 * the committed faucet amounts and to the sum of balances.
 */
export async function checkLedger(
  url: string,
  acked: ReadonlyMap<string, number>,
  lane = 'main',
): Promise<LedgerFacts> {
  // One snapshot for every query: submissions still in flight may commit meanwhile.
  const snapshot = await withClient(url, (c) => loadLedger(c, lane));
  const problems = checkSnapshot(snapshot).map(describeViolation);
  const missing = notCommitted(snapshot, acked.keys());
  if (missing.length > 0) problems.push(`${missing.length} acknowledged transactions are in no block`);
  assert.deepEqual(problems, [], 'the ledger keeps the invariants');
  return { height: snapshot.blocks.length, blocks: snapshot.blocks };
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
