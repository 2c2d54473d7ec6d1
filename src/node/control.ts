import type pg from 'pg';
import { LANE_NAME } from '../ledger/envelope.js';
import { REPLICA_ID } from './config.js';

/**
 * Operator requests travel between replicas as PostgreSQL notifications, so any replica (the one
 * a load balancer picked) can accept a request that another replica must carry out.
 */
export const CONTROL_CHANNEL = 'baton_control';
/** Notified with a lane's name when it is created at run time. */
export const LANES_CHANNEL = 'baton_lanes';

export type ControlMessage =
  { op: 'handover'; lane: string; to: string | null } | { op: 'drain'; replica: string };

export async function publishControl(pool: pg.Pool, message: ControlMessage): Promise<void> {
  await pool.query('SELECT pg_notify($1, $2)', [CONTROL_CHANNEL, JSON.stringify(message)]);
}

/** The message in a notification payload, or null when it is not one this version understands. */
export function parseControl(payload: string): ControlMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const m = value as Record<string, unknown>;
  if (m['op'] === 'handover' && typeof m['lane'] === 'string' && LANE_NAME.test(m['lane'])) {
    const to = m['to'];
    if (to === null || (typeof to === 'string' && REPLICA_ID.test(to)))
      return { op: 'handover', lane: m['lane'], to };
  }
  if (m['op'] === 'drain' && typeof m['replica'] === 'string' && REPLICA_ID.test(m['replica'])) {
    return { op: 'drain', replica: m['replica'] };
  }
  return null;
}
