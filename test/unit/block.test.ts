import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { App, AppState, TxContext } from '../../src/apps/app.js';
import { SUPPLY_KEY, balanceKey, tokenApp } from '../../src/apps/token.js';
import { blockHash, publicBlock, type BlockRecord } from '../../src/ledger/block.js';
import { LaneState } from '../../src/ledger/lane-state.js';
import { buildBlock as buildOrNull, type LeaderContext } from '../../src/ledger/leader.js';
import { AppRunner } from '../../src/apps/runner.js';
import type { PendingTx } from '../../src/ledger/store.js';
import { GENESIS_PARENT } from '../../src/db/migrations.js';

type Unhashed = Omit<BlockRecord, 'hash'>;

const H = (c: string): string => c.repeat(64);
const ALICE = H('a');
const BOB = H('b');

function unhashed(overrides: Partial<Unhashed> = {}): Unhashed {
  return {
    lane: 'main',
    height: 2,
    parentHash: H('1'),
    term: 3,
    producer: 'r1',
    time: '2024-01-02T03:04:05.678Z',
    version: '1.0.0',
    txs: [H('c'), H('d')],
    results: [{ ok: true }, { ok: false, error: 'insufficient_funds' }],
    changes: [
      ['balance:x', 5],
      ['supply', 5],
    ],
    ...overrides,
  };
}

/** A block record chained on `parent` (or genesis), with a correct hash. */
function chained(
  parent: { height: number; hash: string } | null,
  overrides: Partial<Unhashed> = {},
): BlockRecord {
  const u = unhashed({
    height: parent ? parent.height + 1 : 1,
    parentHash: parent ? parent.hash : GENESIS_PARENT,
    ...overrides,
  });
  return { ...u, hash: blockHash(u) };
}

function emptyLane(): LaneState {
  return new LaneState({ height: 0, tipHash: GENESIS_PARENT, tipTime: 0, version: null, entries: [] });
}

describe('blockHash', () => {
  it('is deterministic and 64 lowercase hex characters', () => {
    assert.equal(blockHash(unhashed()), blockHash(unhashed()));
    assert.match(blockHash(unhashed()), /^[0-9a-f]{64}$/);
  });

  it('does not depend on the order of the record keys', () => {
    const u = unhashed();
    const reversed = Object.fromEntries(Object.entries(u).reverse()) as unknown as Unhashed;
    assert.equal(blockHash(reversed), blockHash(u));
  });

  it('ignores fields outside the hashed set (such as a stale hash)', () => {
    const u = unhashed();
    assert.equal(blockHash({ ...u, hash: 'whatever' } as Unhashed), blockHash(u));
  });

  const variants: Array<[string, Partial<Unhashed>]> = [
    ['lane', { lane: 'other' }],
    ['height', { height: 3 }],
    ['parentHash', { parentHash: H('2') }],
    ['term', { term: 4 }],
    ['producer', { producer: 'r2' }],
    ['time', { time: '2024-01-02T03:04:05.679Z' }],
    ['txs order', { txs: [H('d'), H('c')] }],
    ['a tx id', { txs: [H('c'), H('e')] }],
    ['a dropped tx', { txs: [H('c')] }],
    [
      'a result ok flag',
      {
        results: [
          { ok: false, error: 'x' },
          { ok: false, error: 'insufficient_funds' },
        ],
      },
    ],
    ['a result error text', { results: [{ ok: true }, { ok: false, error: 'other' }] }],
    ['a result order', { results: [{ ok: false, error: 'insufficient_funds' }, { ok: true }] }],
    [
      'a state change value',
      {
        changes: [
          ['balance:x', 6],
          ['supply', 5],
        ],
      },
    ],
    [
      'a state change key',
      {
        changes: [
          ['balance:y', 5],
          ['supply', 5],
        ],
      },
    ],
    ['a dropped state change', { changes: [['supply', 5]] }],
    [
      'an added state change',
      {
        changes: [
          ['balance:x', 5],
          ['balance:y', 0],
          ['supply', 5],
        ],
      },
    ],
  ];
  for (const [field, overrides] of variants) {
    it(`changes when ${field} changes`, () => {
      assert.notEqual(blockHash(unhashed(overrides)), blockHash(unhashed()));
    });
  }

  it('gives every variant a distinct hash', () => {
    const hashes = new Set([blockHash(unhashed()), ...variants.map(([, o]) => blockHash(unhashed(o)))]);
    assert.equal(hashes.size, variants.length + 1);
  });

  it('distinguishes a failed result from a successful one whatever the error text', () => {
    const a = blockHash(unhashed({ results: [{ ok: true }] }));
    const b = blockHash(unhashed({ results: [{ ok: false, error: '' }] }));
    assert.notEqual(a, b);
  });

  it('refuses a float in a state change (canonical JSON)', () => {
    assert.throws(() => blockHash(unhashed({ changes: [['k', 1.5]] })), TypeError);
  });
});

describe('publicBlock', () => {
  it('keeps exactly the public fields', () => {
    const record = chained(null);
    assert.deepEqual(publicBlock(record), {
      height: record.height,
      hash: record.hash,
      parentHash: record.parentHash,
      term: record.term,
      producer: record.producer,
      time: record.time,
      txs: record.txs,
      version: record.version,
    });
  });

  it('shows the version switch on the block that makes it, and only there', () => {
    const record = chained(null, { upgrade: '2.0.0' });
    assert.equal(publicBlock(record).upgrade, '2.0.0');
    assert.equal('upgrade' in publicBlock(chained(null)), false);
  });
});

describe('LaneState.applyNext', () => {
  it('accepts the successor with the matching parentHash and moves the tip', () => {
    const lane = emptyLane();
    const b1 = chained(null, { changes: [['k', 1]] });
    assert.equal(lane.applyNext(b1), true);
    assert.equal(lane.height, 1);
    assert.equal(lane.tipHash, b1.hash);
    assert.equal(lane.tipTimeMs, Date.parse(b1.time));
    assert.equal(lane.get('k'), 1);
    const b2 = chained(b1, { changes: [['k', 2]] });
    assert.equal(lane.applyNext(b2), true);
    assert.equal(lane.height, 2);
    assert.equal(lane.get('k'), 2);
  });

  it('starts from a snapshot', () => {
    const lane = new LaneState({
      height: 7,
      tipHash: H('7'),
      tipTime: 1234,
      version: null,
      entries: [['k', 'v']],
    });
    assert.equal(lane.height, 7);
    assert.equal(lane.tipHash, H('7'));
    assert.equal(lane.tipTimeMs, 1234);
    assert.equal(lane.get('k'), 'v');
    assert.equal(lane.get('missing'), undefined);
    assert.equal(lane.applyNext(chained({ height: 7, hash: H('7') })), true);
  });

  function assertUnchanged(lane: LaneState, height: number, tipHash: string, key: string, value: unknown) {
    assert.equal(lane.height, height);
    assert.equal(lane.tipHash, tipHash);
    assert.equal(lane.get(key), value);
  }

  it('returns false for the same block applied twice, without changing state', () => {
    const lane = emptyLane();
    const b1 = chained(null, { changes: [['k', 1]] });
    assert.equal(lane.applyNext(b1), true);
    assert.equal(lane.applyNext(b1), false);
    assertUnchanged(lane, 1, b1.hash, 'k', 1);
  });

  it('returns false for a stale block, without changing state', () => {
    const lane = emptyLane();
    const b1 = chained(null, { changes: [['k', 1]] });
    const b2 = chained(b1, { changes: [['k', 2]] });
    lane.applyNext(b1);
    lane.applyNext(b2);
    const t = lane.tipTimeMs;
    assert.equal(lane.applyNext(b1), false);
    assertUnchanged(lane, 2, b2.hash, 'k', 2);
    assert.equal(lane.tipTimeMs, t);
  });

  it('returns false for a gap, without changing state', () => {
    const lane = emptyLane();
    const b1 = chained(null, { changes: [['k', 1]] });
    const b2 = chained(b1, { changes: [['k', 2]] });
    const b3 = chained(b2, { changes: [['k', 3]] });
    lane.applyNext(b1);
    assert.equal(lane.applyNext(b3), false);
    assertUnchanged(lane, 1, b1.hash, 'k', 1);
  });

  it('returns false for the right height with a wrong parentHash (a fork), without changing state', () => {
    const lane = emptyLane();
    const b1 = chained(null, { changes: [['k', 1]] });
    lane.applyNext(b1);
    const fork = chained({ height: 1, hash: H('f') }, { changes: [['k', 99]] });
    assert.equal(fork.height, 2);
    assert.equal(lane.applyNext(fork), false);
    assertUnchanged(lane, 1, b1.hash, 'k', 1);
  });
});

describe('StateOverlay', () => {
  function laneWith(entries: Array<[string, number]>): LaneState {
    return new LaneState({ height: 0, tipHash: GENESIS_PARENT, tipTime: 0, version: null, entries });
  }

  it('reads through to the base state', () => {
    const overlay = laneWith([['a', 1]]).overlay();
    assert.equal(overlay.get('a'), 1);
    assert.equal(overlay.get('b'), undefined);
  });

  it('keeps writes local: the base state is untouched', () => {
    const lane = laneWith([['a', 1]]);
    const overlay = lane.overlay();
    overlay.set('a', 2);
    overlay.set('b', 3);
    assert.equal(overlay.get('a'), 2);
    assert.equal(overlay.get('b'), 3);
    assert.equal(lane.get('a'), 1);
    assert.equal(lane.get('b'), undefined);
  });

  it('returns a written null rather than falling through', () => {
    const overlay = laneWith([['a', 1]]).overlay();
    overlay.set('a', null);
    assert.equal(overlay.get('a'), null);
  });

  it('lists changes sorted by key (UTF-16 code units), last write wins', () => {
    const overlay = laneWith([]).overlay();
    for (const [k, v] of [
      ['supply', 1],
      ['balance:b', 2],
      ['balance:a', 3],
      ['B', 4],
      ['balance:b', 5],
    ] as const)
      overlay.set(k, v);
    assert.deepEqual(overlay.changes(), [
      ['B', 4],
      ['balance:a', 3],
      ['balance:b', 5],
      ['supply', 1],
    ]);
  });

  it('has no changes before any write', () => {
    assert.deepEqual(
      laneWith([['a', 1]])
        .overlay()
        .changes(),
      [],
    );
  });

  it('restores a checkpoint: later writes vanish, earlier ones stay', () => {
    const overlay = laneWith([['a', 1]]).overlay();
    overlay.set('a', 2);
    const checkpoint = overlay.checkpoint();
    overlay.set('a', 3);
    overlay.set('b', 4);
    overlay.restore(checkpoint);
    assert.equal(overlay.get('a'), 2);
    assert.equal(overlay.get('b'), undefined);
    assert.deepEqual(overlay.changes(), [['a', 2]]);
  });

  it('writes after a checkpoint do not survive restoring it, across nested checkpoints', () => {
    const overlay = laneWith([['x', 0]]).overlay();
    const outer = overlay.checkpoint();
    overlay.set('x', 1);
    const inner = overlay.checkpoint();
    overlay.set('x', 2);
    overlay.set('y', 3);
    overlay.restore(inner);
    assert.deepEqual(overlay.changes(), [['x', 1]]);
    overlay.restore(outer);
    assert.deepEqual(overlay.changes(), []);
    assert.equal(overlay.get('x'), 0, 'reads fall through to the base again');
  });
});

describe('buildBlock', () => {
  /** The only context fields buildBlock reads. */
  function context(lane: LaneState, app: App = tokenApp): LeaderContext {
    return {
      lane: 'main',
      term: 5,
      producer: 'r9',
      code: { app: () => app, approvers: [], quorum: 0, proposedVersion: null },
      runner: new AppRunner(),
      follower: { current: lane },
    } as unknown as LeaderContext;
  }

  function buildBlock(ctx: LeaderContext, pending: PendingTx[]): BlockRecord {
    const block = buildOrNull(ctx, pending);
    assert.ok(block, 'the replica runs the app');
    return block;
  }

  function pendingTx(n: number, from: string, kind: string, args: unknown): PendingTx {
    const body = JSON.stringify({ lane: 'main', from, kind, args, nonce: n });
    return { id: n.toString(16).padStart(64, '0'), body };
  }

  it('builds the successor of the tip with a correct hash and sorted changes', () => {
    const lane = emptyLane();
    const pending = [
      pendingTx(1, ALICE, 'faucet', { amount: 10 }),
      pendingTx(2, ALICE, 'transfer', { to: BOB, amount: 4 }),
      pendingTx(3, BOB, 'transfer', { to: ALICE, amount: 100 }),
    ];
    const block = buildBlock(context(lane), pending);
    assert.equal(block.lane, 'main');
    assert.equal(block.height, 1);
    assert.equal(block.parentHash, GENESIS_PARENT);
    assert.equal(block.term, 5);
    assert.equal(block.producer, 'r9');
    assert.deepEqual(
      block.txs,
      pending.map((p) => p.id),
    );
    assert.deepEqual(block.results, [{ ok: true }, { ok: true }, { ok: false, error: 'insufficient_funds' }]);
    assert.deepEqual(block.changes, [
      [balanceKey(ALICE), 6],
      [balanceKey(BOB), 4],
      [SUPPLY_KEY, 10],
    ]);
    const { hash, ...rest } = block;
    assert.equal(hash, blockHash(rest));
    assert.ok(!Number.isNaN(Date.parse(block.time)));
    // The base state is not modified by building.
    assert.equal(lane.height, 0);
    assert.equal(lane.get(SUPPLY_KEY), undefined);
    // And the block applies on top of it.
    assert.equal(lane.applyNext(block), true);
    assert.equal(lane.get(balanceKey(BOB)), 4);
  });

  it('never goes back in time relative to the tip', () => {
    const future = Date.now() + 3_600_000;
    const lane = new LaneState({ height: 4, tipHash: H('4'), tipTime: future, version: null, entries: [] });
    const block = buildBlock(context(lane), [pendingTx(1, ALICE, 'faucet', { amount: 1 })]);
    assert.equal(block.height, 5);
    assert.equal(block.parentHash, H('4'));
    assert.ok(Date.parse(block.time) >= future);
  });

  it('records a tx whose apply throws as ok:false and keeps none of its writes', () => {
    const throwing: App = {
      name: 'throwing',
      version: '1.0.0',
      validate: () => undefined,
      apply(state: AppState, tx: TxContext) {
        if (tx.kind === 'boom') {
          state.set('partial', 1);
          state.set('shared', 'from boom');
          throw new Error('exploded halfway');
        }
        state.set('shared', tx.kind);
        return { ok: true };
      },
    };
    const lane = emptyLane();
    const block = buildBlock(context(lane, throwing), [
      pendingTx(1, ALICE, 'first', null),
      pendingTx(2, ALICE, 'boom', null),
    ]);
    assert.deepEqual(block.results[0], { ok: true });
    assert.equal(block.results[1]!.ok, false);
    assert.deepEqual(block.changes, [['shared', 'first']]);
  });

  it('records a tx the app refuses (ok:false) and keeps none of the writes it made first', () => {
    const refusing: App = {
      name: 'refusing',
      version: '1.0.0',
      validate: () => undefined,
      apply(state: AppState, tx: TxContext) {
        state.set('shared', tx.kind);
        if (tx.kind === 'no') {
          state.set('partial', 1);
          return { ok: false, error: 'refused' };
        }
        return { ok: true };
      },
    };
    const block = buildBlock(context(emptyLane(), refusing), [
      pendingTx(1, ALICE, 'yes', null),
      pendingTx(2, ALICE, 'no', null),
    ]);
    assert.deepEqual(block.results, [{ ok: true }, { ok: false, error: 'refused' }]);
    assert.deepEqual(block.changes, [['shared', 'yes']]);
  });

  it('records a token tx with invalid args (it throws in apply) as ok:false without writes', () => {
    const lane = emptyLane();
    const block = buildBlock(context(lane), [
      pendingTx(1, ALICE, 'faucet', { amount: 5000 }),
      pendingTx(2, ALICE, 'faucet', { amount: 5 }),
    ]);
    assert.equal(block.results[0]!.ok, false);
    assert.deepEqual(block.results[1], { ok: true });
    assert.deepEqual(block.changes, [
      [balanceKey(ALICE), 5],
      [SUPPLY_KEY, 5],
    ]);
  });

  it('records a stored body that no longer parses as ok:false without writes', () => {
    const lane = emptyLane();
    const block = buildBlock(context(lane), [{ id: H('9'), body: 'not json' }]);
    assert.equal(block.results[0]!.ok, false);
    assert.deepEqual(block.changes, []);
  });

  it('bounds the recorded error text', () => {
    const app: App = {
      name: 'verbose',
      version: '1.0.0',
      validate: () => undefined,
      apply() {
        throw new Error('x'.repeat(10_000));
      },
    };
    const block = buildBlock(context(emptyLane(), app), [pendingTx(1, ALICE, 'k', null)]);
    const result = block.results[0]!;
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.error.length <= 200);
  });
});
