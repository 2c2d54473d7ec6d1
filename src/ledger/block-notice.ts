import type { BlockRecord } from './block.js';

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const MAX_NOTICE_BYTES = 7900;

/** The block as JSON for the baton_block_data notification, or null when it is too large to send. */
export function blockNotice(block: BlockRecord): string | null {
  // Its ids alone (64 characters, quoted, comma) put most blocks under load over the limit:
  // serialising those only to drop them would cost every commit of a busy lane.
  if (block.txs.length * 67 > MAX_NOTICE_BYTES) return null;
  const notice = JSON.stringify(block);
  return Buffer.byteLength(notice) <= MAX_NOTICE_BYTES ? notice : null;
}

/** A block from a baton_block_data notification, or null when the payload is not block-shaped. */
export function blockFromNotice(payload: string): BlockRecord | null {
  try {
    const b = JSON.parse(payload) as BlockRecord;
    const shaped =
      typeof b.lane === 'string' &&
      Number.isSafeInteger(b.height) &&
      typeof b.hash === 'string' &&
      typeof b.parentHash === 'string' &&
      Array.isArray(b.txs) &&
      Array.isArray(b.results) &&
      Array.isArray(b.changes) &&
      (b.version === undefined || b.version === null || typeof b.version === 'string');
    if (!shaped) return null;
    b.version ??= null; // a replica of the previous build sends no version
    return b;
  } catch {
    return null;
  }
}
