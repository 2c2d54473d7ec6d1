import type { JsonValue } from '../apps/app.js';
import { canonicalJson, sha256Hex } from './canonical.js';

/** A block as the public API shows it. */
export interface Block {
  height: number;
  hash: string;
  parentHash: string;
  term: number;
  producer: string;
  /** Commit time chosen by the producer, ISO-8601 UTC with milliseconds. */
  time: string;
  txs: string[];
}

/** What each transaction of a block did: committed either way, `ok: false` when the app refused it. */
export type TxResult = { ok: true } | { ok: false; error: string };

/** A state write of a block: [key, new value], sorted by key. */
export type StateChange = [string, JsonValue];

/** A block with what followers need to update their warm state. */
export interface BlockRecord extends Block {
  lane: string;
  results: TxResult[];
  changes: StateChange[];
}

export const BLOCK_ENCODING_VERSION = 1;

/**
 * The block hash: hex SHA-256 of the canonical JSON (see canonical.ts) of
 * `{ v, lane, height, parentHash, term, producer, time, txs, results, changes }`,
 * so the hash commits to the ordering, to what each transaction did and to the state it wrote.
 */
export function blockHash(block: Omit<BlockRecord, 'hash'>): string {
  return sha256Hex(
    canonicalJson({
      v: BLOCK_ENCODING_VERSION,
      lane: block.lane,
      height: block.height,
      parentHash: block.parentHash,
      term: block.term,
      producer: block.producer,
      time: block.time,
      txs: block.txs,
      results: block.results.map((r) => (r.ok ? [true] : [false, r.error])),
      changes: block.changes,
    }),
  );
}

export function publicBlock(record: BlockRecord): Block {
  const { height, hash, parentHash, term, producer, time, txs } = record;
  return { height, hash, parentHash, term, producer, time, txs };
}
