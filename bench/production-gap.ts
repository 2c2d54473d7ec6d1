import type pg from 'pg';

/**
 * The block production gap before a block: from the previous block, or from the arrival of the
 * block's oldest transaction if that came later (before it the lane had nothing to produce,
 * whoever led it), to the block. The raw gap between block times also holds the load's pauses.
 */
export function productionGapMs(previousMs: number, blockMs: number, oldestTxMs: number | null): number {
  return Math.max(0, blockMs - Math.max(previousMs, oldestTxMs ?? -Infinity));
}

/** SQL: when the oldest transaction of the id array `ids` was received (epoch ms, the database clock). */
export const oldestArrivalSql = (ids: string): string =>
  `(SELECT floor(extract(epoch FROM min(t.received_at)) * 1000) FROM baton_txs t WHERE t.id = ANY(${ids}))`;

/** When the oldest of `txIds` was received (epoch ms, the database clock), or null if none is known. */
export async function oldestArrivalMs(db: pg.Client, txIds: readonly string[]): Promise<number | null> {
  const { rows } = await db.query<{ ms: string | null }>(`SELECT ${oldestArrivalSql('$1::text[]')} AS ms`, [
    txIds,
  ]);
  return rows[0]?.ms == null ? null : Number(rows[0].ms);
}
