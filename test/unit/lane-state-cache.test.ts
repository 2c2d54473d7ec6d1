import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JsonValue } from '../../src/apps/app.js';
import { blockHash, type BlockRecord, type StateChange } from '../../src/ledger/block.js';
import { LaneState, type StateSource } from '../../src/ledger/lane-state.js';
import { GENESIS_PARENT } from '../../src/db/migrations.js';

// A lane state that does not hold every key reads the ones a pass lacks from its source, as of
// its own height, and keeps at most maxKeys of them.

interface Row {
  value: JsonValue;
  height: number;
}

/** A source over a map of stored rows, recording each read, with a settable "follower" height. */
class FakeSource implements StateSource {
  readonly reads: string[][] = [];
  readonly reached: number[] = [];
  onReach: (height: number) => void = () => undefined;

  constructor(readonly rows: Map<string, Row>) {}

  read(keys: readonly string[]) {
    this.reads.push([...keys]);
    return Promise.resolve(
      keys.flatMap((key) => {
        const row = this.rows.get(key);
        return row ? [{ key, ...row }] : [];
      }),
    );
  }

  reach(height: number): Promise<void> {
    this.reached.push(height);
    this.onReach(height);
    return Promise.resolve();
  }
}

function partial(source: StateSource, height = 10, maxKeys = 100): LaneState {
  return new LaneState(
    { height, tipHash: GENESIS_PARENT, tipTime: 0, version: '1.0.0', entries: [], complete: false },
    source,
    maxKeys,
  );
}

function next(state: LaneState, changes: StateChange[]): BlockRecord {
  const unhashed = {
    lane: 'main',
    height: state.height + 1,
    parentHash: state.tipHash,
    term: 1,
    producer: 'r1',
    time: new Date(1_700_000_000_000 + state.height).toISOString(),
    version: '1.0.0',
    txs: [],
    results: [],
    changes,
  };
  return { ...unhashed, hash: blockHash(unhashed) };
}

describe('LaneState reading through', () => {
  it('runs a pass again with the keys it lacked, fetched in one read, and answers as a whole state would', async () => {
    const source = new FakeSource(
      new Map([
        ['a', { value: 1, height: 3 }],
        ['b', { value: { x: 2 }, height: 9 }],
      ]),
    );
    const state = partial(source);
    let passes = 0;
    const out = await state.resolve(() => {
      passes++;
      return [state.get('a'), state.get('b'), state.get('never')];
    });
    assert.deepEqual(out, [1, { x: 2 }, undefined]);
    assert.equal(passes, 2);
    assert.deepEqual(source.reads, [['a', 'b', 'never']]);
    // Held now, absent keys included: no more reads.
    await state.resolve(() => [state.get('a'), state.get('never')]);
    assert.equal(source.reads.length, 1);
    assert.ok(Object.isFrozen(state.get('b')), 'values read through are frozen too');
  });

  it('reads a key a pass found only through another key in a further pass', async () => {
    const source = new FakeSource(
      new Map([
        ['pointer', { value: 'target', height: 1 }],
        ['target', { value: 42, height: 2 }],
      ]),
    );
    const state = partial(source);
    const out = await state.resolve(() => {
      const pointer = state.get('pointer');
      return typeof pointer === 'string' ? state.get(pointer) : 'missing';
    });
    assert.equal(out, 42);
    assert.deepEqual(source.reads, [['pointer'], ['target']]);
  });

  it('does not take a value written above its own height: it waits for that block, whose write wins', async () => {
    const source = new FakeSource(new Map([['k', { value: 'new', height: 12 }]]));
    const state = partial(source, 10);
    source.onReach = (height) => {
      // The follower applies blocks 11 and 12 meanwhile; block 12 wrote k.
      while (state.height < height)
        state.applyNext(next(state, state.height + 1 === 12 ? [['k', 'new']] : []));
    };
    const out = await state.resolve(() => state.get('k'));
    assert.equal(out, 'new');
    assert.deepEqual(source.reached, [12]);
    assert.equal(state.height, 12);
  });

  it('a fetched value never overwrites a newer one a block wrote while the read was in flight', async () => {
    const rows = new Map([['k', { value: 'old', height: 5 }]]);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const source = new FakeSource(rows);
    const slow: StateSource = {
      read: async (keys) => {
        const answer = await source.read(keys);
        await gate;
        return answer;
      },
      reach: (h) => source.reach(h),
    };
    const state = partial(slow, 10);
    const reading = state.resolve(() => state.get('k'));
    state.applyNext(next(state, [['k', 'written at 11']]));
    release();
    assert.equal(await reading, 'written at 11');
  });

  it('keeps at most maxKeys, dropping the oldest written, and reads dropped keys again', async () => {
    const rows = new Map<string, Row>();
    const source = new FakeSource(rows);
    const state = partial(source, 0, 3);
    for (const k of ['a', 'b', 'c', 'd', 'e']) {
      state.applyNext(next(state, [[k, k.toUpperCase()]]));
      rows.set(k, { value: k.toUpperCase(), height: state.height });
    }
    assert.equal(state.cachedKeys, 3);
    const out = await state.resolve(() => ['a', 'b', 'e'].map((k) => state.get(k)));
    assert.deepEqual(out, ['A', 'B', 'E']);
    assert.deepEqual(source.reads, [['a', 'b']], 'only the dropped keys are read');
  });

  it('a whole state that outgrows maxKeys starts reading through; outside a pass a partial state refuses reads', async () => {
    const source = new FakeSource(new Map([['a', { value: 1, height: 1 }]]));
    const state = new LaneState(
      { height: 1, tipHash: GENESIS_PARENT, tipTime: 0, version: '1.0.0', entries: [['a', 1]] },
      source,
      2,
    );
    assert.equal(state.holdsEveryKey, true);
    assert.equal(state.get('nothing'), undefined, 'a whole state knows an absent key without reading');
    state.applyNext(next(state, [['b', 2]]));
    state.applyNext(next(state, [['c', 3]]));
    assert.equal(state.holdsEveryKey, false);
    assert.throws(() => state.get('a'), /outside a pass/);
    assert.equal(await state.resolve(() => state.get('a')), 1);
  });
});
