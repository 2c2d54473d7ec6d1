import fc from 'fast-check';
import { KEYS } from './fuzz-keys.js';
import { hexArb, queryArb, segmentArb } from './fuzz-values.js';
import type { LedgerSnapshot } from './ledger-snapshot.js';

/** A read of one lane resource: a page of blocks, a transaction status, or a balance. */
export interface Read {
  resource: 'blocks' | 'txs' | 'accounts';
  /** Everything after the resource name: `?query` or `/segment`. */
  arg: string;
}

export type ReadView = { heights: number[] } | { id: string } | { balance: number };

/** Reads with fuzzed parameters, including ids and accounts the ledger holds (in any case). */
export function readArb(ledger: LedgerSnapshot): fc.Arbitrary<Read> {
  const known = [...ledger.txs.map((t) => t.id), ...KEYS.map((k) => k.publicKey)];
  const segment = fc.oneof(
    hexArb,
    segmentArb,
    fc.constantFrom(...known).chain((hex) => fc.constantFrom(hex, hex.toUpperCase())),
  );
  return fc.oneof(
    queryArb.map((query): Read => ({ resource: 'blocks', arg: `?${query}` })),
    fc
      .tuple(fc.constantFrom<'txs' | 'accounts'>('txs', 'accounts'), segment)
      .map(([resource, s]): Read => ({ resource, arg: `/${s}` })),
  );
}

/** The API's integer parameters: decimal digits (at most 16: no safe integer needs more) in range. */
function intParam(value: string | null, fallback: number, min: number, max: number): number | undefined {
  if (value === null || value === '') return fallback;
  if (!/^\d{1,16}$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
}

/** What a read must answer, from the ledger snapshot and the contract alone. */
export function expectedRead(
  ledger: LedgerSnapshot,
  lane: string,
  read: Read,
): ReadView | 'bad_request' | 'not_found' | 'another route' {
  // Empty and dot segments resolve to other routes (`txs/` is the submit route): no exact answer here.
  const parts = new URL(`/v1/lanes/${lane}/${read.resource}${read.arg}`, 'http://replica').pathname
    .split('/')
    .filter((p) => p !== '');
  const shape = read.resource === 'blocks' ? 4 : 5;
  if (parts.length !== shape || parts[2] !== lane || parts[3] !== read.resource) return 'another route';
  if (read.resource === 'blocks') {
    const params = new URL(`http://replica/${read.arg}`).searchParams;
    const from = intParam(params.get('from'), 1, 1, Number.MAX_SAFE_INTEGER);
    const limit = intParam(params.get('limit'), 100, 1, 1000);
    if (from === undefined || limit === undefined) return 'bad_request';
    const tip = ledger.blocks.filter((b) => b.lane === lane).length;
    const heights: number[] = [];
    for (let h = from; h <= tip && heights.length < limit; h++) heights.push(h);
    return { heights };
  }
  const segment = parts[4]!;
  if (read.resource === 'txs') {
    const id = segment.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(id)) return 'bad_request';
    return ledger.txs.some((t) => t.id === id && t.lane === lane) ? { id } : 'not_found';
  }
  if (!/^[0-9a-fA-F]{64}$/.test(segment)) return 'bad_request';
  const row = ledger.state.find((r) => r.lane === lane && r.key === `balance:${segment.toLowerCase()}`);
  return { balance: typeof row?.value === 'number' ? row.value : 0 };
}

/** The part of a read's answer the expectation speaks about. */
export function readShown(payload: unknown): ReadView {
  const p = payload as { blocks?: Array<{ height: number }>; id?: string; balance?: number };
  if (p.blocks) return { heights: p.blocks.map((b) => b.height) };
  if (p.id !== undefined) return { id: p.id };
  return { balance: p.balance ?? Number.NaN };
}
