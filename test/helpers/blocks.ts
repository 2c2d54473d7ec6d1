import { blockHash, type BlockRecord } from '../../src/ledger/block.js';
import type { LaneSpec } from '../../src/ledger/store.js';

/** A token lane at the built-in token app's version. */
export const TOKEN_LANE: LaneSpec = { app: 'token', version: '1.0.0' };

/** A hashed block of lane `main` by producer `test`, every transaction ok, for store-level tests. */
export function testBlock(
  term: number,
  height: number,
  parentHash: string,
  { txs = [], changes = [] }: { txs?: string[]; changes?: BlockRecord['changes'] } = {},
): BlockRecord {
  const unhashed = {
    lane: 'main',
    height,
    parentHash,
    term,
    producer: 'test',
    time: new Date(1_700_000_000_000 + height).toISOString(),
    version: TOKEN_LANE.version,
    txs,
    results: txs.map(() => ({ ok: true as const })),
    changes,
  };
  return { ...unhashed, hash: blockHash(unhashed) };
}
