import pg from 'pg';
import type { Logger } from '../log.js';

export interface PoolOptions {
  url: string;
  max?: number;
  applicationName?: string;
  logger: Logger;
}

/**
 * A pg.Pool whose idle-client errors are logged instead of crashing the process. Idle
 * connections are kept (min = max): a replica that takes several lanes at once needs a
 * connection per claim at that moment, and opening one then costs more than the claim itself.
 */
export function createPool(options: PoolOptions): pg.Pool {
  const max = options.max ?? 10;
  const pool = new pg.Pool({
    connectionString: options.url,
    max,
    min: max,
    application_name: options.applicationName ?? 'baton',
    keepAlive: true,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', (error) => options.logger.warn('idle database connection failed', { error }));
  return pool;
}

/**
 * Opens the pool's connections up front, so none has to be opened when a lane is taken over,
 * and runs `warm` on each.
 */
export async function warmPool(
  pool: pg.Pool,
  connections: number,
  warm: (client: pg.PoolClient) => Promise<void> = () => Promise.resolve(),
): Promise<void> {
  const clients = await Promise.allSettled(Array.from({ length: connections }, () => pool.connect()));
  await Promise.all(
    clients.map(async (c) => {
      if (c.status !== 'fulfilled') return;
      // A connection that failed to warm up is closed rather than handed out.
      const failure = await warm(c.value).then(
        () => undefined,
        (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
      );
      c.value.release(failure);
    }),
  );
}

/** SQLSTATEs raised by the schema's own checks. */
export const SQLSTATE = {
  fenced: 'BT001',
  notOnTip: 'BT002',
  txNotPending: 'BT003',
  unknownLane: 'BT004',
  /** The block's app version is not the lane's active version (the lane was upgraded). */
  wrongVersion: 'BT006',
  /** The block switches to a version no operator proposed. */
  notProposed: 'BT007',
  uniqueViolation: '23505',
} as const;

const SQLSTATE_FORMAT = /^[0-9A-Z]{5}$/;

/** The SQLSTATE of a PostgreSQL error; undefined for anything else (socket errors have codes like ECONNREFUSED). */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && SQLSTATE_FORMAT.test(code) ? code : undefined;
}

/**
 * True for errors that mean the connection or server is unavailable (retry later), not a bad
 * query: socket errors and timeouts, connection exceptions (08), operator intervention such as
 * a shutdown or a server still starting (57P), and insufficient resources (53).
 */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (SQLSTATE_FORMAT.test(code))
      return code.startsWith('08') || code.startsWith('57P') || code.startsWith('53');
    return /^E[A-Z]+$/.test(code); // ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT…
  }
  // node-postgres reports a lost or timed-out connection with plain errors.
  return error instanceof Error && /connection|terminated|timeout|not queryable/i.test(error.message);
}
