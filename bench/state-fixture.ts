import pg from 'pg';
import { GENESIS_PARENT, migrate } from '../src/db/migrations.js';

/** The token app's state key of account number `i` of a prepared lane (64 hex digits). */
export const fixtureAccount = (i: number): string => i.toString(16).padStart(64, '0');

export interface LaneFixture {
  lane: string;
  keys: number;
  blocks: number;
  /** Wall time of the SQL that wrote it (schema, rows, VACUUM ANALYZE). */
  prepareMs: number;
}

/**
 * Writes a token lane of `keys` balances and `blocks` blocks straight into an empty database by
 * SQL, as if a long history had been committed: the schema by Baton's own migrations, then one
 * INSERT … generate_series per table on a connection with `session_replication_role = replica`
 * (so the fence trigger and the chain's foreign key, which would check each of a million rows,
 * stay off). Block i has hash lpad(hex(i)) and the previous one as parent; the lane row's height,
 * tip, version and term match the last block. Balances are i % 1000. Then VACUUM ANALYZE, as a
 * production database would have been.
 */
export async function prepareTokenLane(
  databaseUrl: string,
  lane: string,
  keys: number,
  blocks: number,
): Promise<LaneFixture> {
  const started = performance.now();
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await migrate(db);
    const hash = (h: string) => `lpad(to_hex(${h}), 64, '0')`;
    const firstTime = Date.now() - blocks - 60_000;
    await db.query('BEGIN');
    await db.query('SET LOCAL session_replication_role = replica');
    await db.query(
      `INSERT INTO baton_lanes (lane, app, term, height, tip_hash, tip_time, version)
       VALUES ($1, 'token', $2, $3, CASE WHEN $3::bigint = 0 THEN $4 ELSE ${hash('$3::bigint')} END, $5, '1.0.0')`,
      [lane, blocks > 0 ? 1 : 0, blocks, GENESIS_PARENT, blocks > 0 ? firstTime + blocks : 0],
    );
    await db.query('INSERT INTO baton_leases (lane, term) VALUES ($1, $2)', [lane, blocks > 0 ? 1 : 0]);
    if (blocks > 0) {
      await db.query(
        `INSERT INTO baton_blocks (lane, height, hash, parent_hash, parent_height, term, producer, time_ms,
                                   tx_ids, results, changes, version)
         SELECT $1, h, ${hash('h')}, CASE WHEN h = 1 THEN $3 ELSE ${hash('h - 1')} END,
                CASE WHEN h = 1 THEN NULL ELSE h - 1 END, 1, 'seed', $4::bigint + h,
                '{}', '[]', '[]', '1.0.0'
         FROM generate_series(1, $2::bigint) AS h`,
        [lane, blocks, GENESIS_PARENT, firstTime],
      );
    }
    if (keys > 0) {
      await db.query(
        `INSERT INTO baton_state (lane, key, value, height)
         SELECT $1, 'balance:' || ${hash('i')}, to_jsonb(i % 1000), greatest(1, i % greatest($3::bigint, 1))
         FROM generate_series(1, $2::bigint) AS i`,
        [lane, keys, blocks],
      );
      await db.query(
        `INSERT INTO baton_state (lane, key, value, height)
         SELECT $1, 'supply', to_jsonb(sum(i % 1000)), greatest($3::bigint, 1) FROM generate_series(1, $2::bigint) AS i`,
        [lane, keys, blocks],
      );
    }
    await db.query('COMMIT');
    await db.query('VACUUM ANALYZE baton_lanes, baton_leases, baton_blocks, baton_state');
  } catch (error) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await db.end();
  }
  return { lane, keys, blocks, prepareMs: performance.now() - started };
}
