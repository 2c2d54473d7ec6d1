import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BatonError } from '../errors.js';

/** Operator actions behind the bearer token. */
export interface AdminActions {
  token: string;
  /** Starts a graceful drain of this replica; the process exits when it is done. */
  drain(): void;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Throws unless the request carries `Authorization: Bearer <token>` (compared in constant time). */
export function authorize(req: IncomingMessage, admin: AdminActions | undefined): AdminActions {
  if (!admin)
    throw new BatonError(
      'not_found',
      'the admin API is disabled on this replica (start it with --admin-token-file)',
    );
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match || !timingSafeEqual(digest(match[1]!), digest(admin.token)))
    throw new BatonError('unauthorized');
  return admin;
}
