import type pg from 'pg';

/**
 * The block production gap before a block: from the previous block, or from the arrival of the
 * block's oldest transaction if that came later (before it the lane had nothing to produce,
 * whoever led it), to the block. The raw gap between block times also holds the load's pauses.
 */
export function productionGapMs(previousMs: number, blockMs: number, oldestTxMs: number | null): number {
  return Math.max(0, blockMs - Math.max(previousMs, oldestTxMs ?? -Infinity));
}

/** When the oldest of `txIds` was received (epoch ms, the database clock), or null if none is known. */
export async function oldestArrivalMs(db: pg.Client, txIds: readonly string[]): Promise<number | null> {
  const { rows } = await db.query<{ ms: string | null }>(
    'SELECT floor(extract(epoch FROM min(received_at)) * 1000) AS ms FROM baton_txs WHERE id = ANY($1::text[])',
    [txIds],
  );
  return rows[0]?.ms == null ? null : Number(rows[0].ms);
}
