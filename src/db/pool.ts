import pg from 'pg';
import type { Logger } from '../log.js';

export interface PoolOptions {
  url: string;
  max?: number;
  applicationName?: string;
  logger: Logger;
}

/** A pg.Pool whose idle-client errors are logged instead of crashing the process. */
export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'baton',
    keepAlive: true,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', (error) => options.logger.warn('idle database connection failed', { error }));
  return pool;
}

/** SQLSTATEs raised by the schema's own checks. */
export const SQLSTATE = {
  fenced: 'BT001',
  notOnTip: 'BT002',
  txNotPending: 'BT003',
  unknownLane: 'BT004',
  uniqueViolation: '23505',
} as const;

export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True for errors that mean the connection or server went away (retry later), not a bad query. */
export function isConnectionError(error: unknown): boolean {
  const code = sqlState(error);
  if (code === undefined) return true; // socket errors, timeouts, "Connection terminated"
  return code.startsWith('08') || code.startsWith('57P') || code === '53300';
}
