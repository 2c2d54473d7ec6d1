/**
 * SQL: true while the database session of backend `pid`, started at `started`, is alive (a pid
 * alone may have been reused by a later session). `pg_stat_get_activity(pid)` reads that one
 * backend's entry; the pg_stat_activity view builds a row for every backend and joins two
 * catalogs, which cost ten times as much and made most of an elector tick.
 */
export function sessionAlive(pid: string, started: string): string {
  return `(${pid} IS NOT NULL AND EXISTS (SELECT 1 FROM pg_stat_get_activity(${pid}) a WHERE a.backend_start = ${started}))`;
}

/** SQL: when the current session started (its backend_start). */
export const OWN_SESSION_STARTED = '(SELECT backend_start FROM pg_stat_get_activity(pg_backend_pid()))';
