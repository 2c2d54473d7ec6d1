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
  /** The app version that produced the block; null for blocks written before versions were recorded. */
  version: string | null;
  /** Present on the block that switches its lane to another app version, from the next block on. */
  upgrade?: string;
}

/** What each transaction of a block did: committed either way, `ok: false` when the app refused it. */
export type TxResult = { ok: true; result?: JsonValue } | { ok: false; error: string };

/** A state write of a block: [key, new value], sorted by key. */
export type StateChange = [string, JsonValue];

/** A block with what followers need to update their warm state. */
export interface BlockRecord extends Block {
  lane: string;
  results: TxResult[];
  changes: StateChange[];
}

/** The hash rule of blocks without a version (kept for the blocks written under it). */
export const LEGACY_BLOCK_ENCODING = 1;
export const BLOCK_ENCODING_VERSION = 2;

/** A result as blocks store and hash it: [true], [true, result] or [false, error]. */
export type CompactResult = [true] | [true, JsonValue] | [false, string];

export function compactResult(r: TxResult): CompactResult {
  if (!r.ok) return [false, r.error];
  return r.result === undefined ? [true] : [true, r.result];
}

export function expandResult(r: CompactResult): TxResult {
  if (r[0]) return r.length > 1 ? { ok: true, result: r[1] as JsonValue } : { ok: true };
  return { ok: false, error: r[1] };
}

/**
 * The block hash: hex SHA-256 of the canonical JSON (see canonical.ts) of
 * `{ v: 2, lane, height, parentHash, term, producer, time, version, upgrade?, txs, results, changes }`,
 * so the hash commits to the ordering, to the app version, to what each transaction did and to
 * the state it wrote. Blocks without a version keep the first rule: `v: 1` and no version fields.
 */
export function blockHash(block: Omit<BlockRecord, 'hash'>): string {
  const legacy = block.version === null || block.version === undefined;
  return sha256Hex(
    canonicalJson({
      v: legacy ? LEGACY_BLOCK_ENCODING : BLOCK_ENCODING_VERSION,
      lane: block.lane,
      height: block.height,
      parentHash: block.parentHash,
      term: block.term,
      producer: block.producer,
      time: block.time,
      ...(legacy ? {} : { version: block.version, upgrade: block.upgrade }),
      txs: block.txs,
      results: block.results.map(compactResult),
      changes: block.changes,
    }),
  );
}

export function publicBlock(record: BlockRecord): Block {
  const { height, hash, parentHash, term, producer, time, txs, version, upgrade } = record;
  return { height, hash, parentHash, term, producer, time, txs, version, ...(upgrade ? { upgrade } : {}) };
}
