import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockRecord } from '../../src/ledger/block.js';
import { RecentBlocks } from '../../src/ledger/recent-blocks.js';
import { excessSubscribers } from '../../src/node/rebalance.js';

const hex = (n: number, width = 64): string => n.toString(16).padStart(width, '0');

/** A block record at `height`; `salt` tells apart two records of the same height. */
function record(height: number, salt = 0): BlockRecord {
  return {
    lane: 'main',
    height,
    hash: hex(height * 1000 + salt),
    parentHash: hex((height - 1) * 1000),
    term: 2,
    producer: 'r1',
    time: new Date(Date.UTC(2024, 0, 1) + height * 1000).toISOString(),
    version: '1.0.0',
    txs: [hex(height * 7 + 1), hex(height * 7 + 2)],
    results: [{ ok: true }, { ok: false, error: 'insufficient_funds' }],
    changes: [
      ['balance:x', height],
      ['supply', height],
    ],
  };
}

function pushRange(ring: RecentBlocks, from: number, to: number): void {
  for (let h = from; h <= to; h++) ring.push(record(h));
}

/** Heights in [lo, hi] that the ring holds. */
function held(ring: RecentBlocks, lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let h = lo; h <= hi; h++) if (ring.get(h)) out.push(h);
  return out;
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

describe('RecentBlocks', () => {
  it('is empty at first', () => {
    const ring = new RecentBlocks(8);
    for (const h of [0, 1, 2, 100]) assert.equal(ring.get(h), undefined);
  });

  it('returns the pushed blocks within the window and nothing outside it', () => {
    const ring = new RecentBlocks(8);
    pushRange(ring, 1, 5);
    for (let h = 1; h <= 5; h++) {
      const entry = ring.get(h);
      assert.ok(entry, `block ${h} is held`);
      assert.deepEqual(entry.record, record(h));
    }
    assert.equal(ring.get(0), undefined);
    assert.equal(ring.get(6), undefined, 'not yet pushed');
    assert.equal(ring.get(9), undefined, 'same slot as 1, but not pushed');
    assert.equal(ring.get(-1), undefined);
  });

  it('the window may start above 1 (a replica that loaded a snapshot)', () => {
    const ring = new RecentBlocks(8);
    pushRange(ring, 301, 305);
    assert.deepEqual(held(ring, 290, 320), range(301, 305));
    assert.equal(ring.get(301)?.record.height, 301);
  });

  it('keeps the last `capacity` blocks when it wraps around', () => {
    const ring = new RecentBlocks(4);
    pushRange(ring, 1, 10);
    assert.deepEqual(held(ring, 0, 20), [7, 8, 9, 10]);
    for (const h of [7, 8, 9, 10]) assert.deepEqual(ring.get(h)?.record, record(h));
    // Slots are reused: 3 and 11 share 7's slot and must not answer with block 7.
    assert.equal(ring.get(3), undefined);
    assert.equal(ring.get(11), undefined);
    pushRange(ring, 11, 13);
    assert.deepEqual(held(ring, 0, 20), [10, 11, 12, 13]);
    assert.deepEqual(ring.get(11)?.record, record(11));
  });

  it('a capacity of 1 holds only the latest block', () => {
    const ring = new RecentBlocks(1);
    pushRange(ring, 1, 3);
    assert.deepEqual(held(ring, 0, 5), [3]);
    assert.deepEqual(ring.get(3)?.record, record(3));
  });

  it('a non-contiguous push (gap) clears what was held', () => {
    const ring = new RecentBlocks(8);
    pushRange(ring, 1, 3);
    ring.push(record(5));
    assert.deepEqual(held(ring, 0, 20), [5]);
    ring.push(record(6));
    assert.deepEqual(held(ring, 0, 20), [5, 6]);
  });

  it('a non-contiguous push (going back) never leaves a stale or wrong block behind', () => {
    const ring = new RecentBlocks(8);
    pushRange(ring, 1, 5);
    ring.push(record(3, 1)); // another block at height 3
    assert.deepEqual(ring.get(3)?.record, record(3, 1));
    for (let h = 0; h <= 10; h++) {
      const entry = ring.get(h);
      if (entry) assert.equal(entry.record.height, h);
    }
    // What it holds is contiguous and ends at the latest push.
    assert.deepEqual(held(ring, 0, 10), [3]);
  });

  it('clear() forgets everything', () => {
    const ring = new RecentBlocks(8);
    pushRange(ring, 1, 5);
    ring.clear();
    assert.deepEqual(held(ring, 0, 10), []);
    pushRange(ring, 9, 10);
    assert.deepEqual(held(ring, 0, 20), [9, 10]);
  });

  it('caches the stream message exactly: {"type":"block","block":{height,hash,parentHash,term,producer,time,txs,version}}', () => {
    const ring = new RecentBlocks(8);
    const r = record(1);
    ring.push(r);
    const message = ring.get(1)!.message;
    const expected =
      `{"type":"block","block":{"height":1,"hash":"${r.hash}","parentHash":"${r.parentHash}",` +
      `"term":2,"producer":"r1","time":"${r.time}","txs":${JSON.stringify(r.txs)},"version":"1.0.0"}}`;
    assert.equal(message, expected);
    const parsed = JSON.parse(message) as { type: string; block: Record<string, unknown> };
    assert.deepEqual(Object.keys(parsed), ['type', 'block']);
    assert.deepEqual(Object.keys(parsed.block), [
      'height',
      'hash',
      'parentHash',
      'term',
      'producer',
      'time',
      'txs',
      'version',
    ]);
    assert.ok(!message.includes('results') && !message.includes('changes') && !message.includes('lane'));
  });

  it('property: get(h) is either nothing or the latest block pushed at h, and the current run is held', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    for (const capacity of [1, 2, 3, 5, 16]) {
      const ring = new RecentBlocks(capacity);
      const latest = new Map<number, BlockRecord>();
      let height = 0;
      let runStart = 1;
      for (let step = 0; step < 500; step++) {
        const roll = random();
        let next = height + 1;
        if (roll < 0.05)
          next = height + 2 + Math.floor(random() * 5); // gap
        else if (roll < 0.08 && height > 2) next = height - 1 - Math.floor(random() * 2); // back
        if (next !== height + 1) runStart = next;
        const r = record(next, step);
        ring.push(r);
        latest.set(next, r);
        height = next;
        for (let h = 0; h <= height + capacity + 2; h++) {
          const entry = ring.get(h);
          if (entry) {
            assert.equal(entry.record, latest.get(h), `capacity ${capacity}, step ${step}: get(${h})`);
            assert.ok(h >= runStart && h <= height, `get(${h}) outside the current run`);
          } else if (h >= Math.max(runStart, height - capacity + 1) && h <= height) {
            assert.fail(`capacity ${capacity}, step ${step}: block ${h} of the current run is missing`);
          }
        }
      }
    }
  });
});

describe('excessSubscribers', () => {
  const counts = (entries: Record<string, number>): Map<string, number> => new Map(Object.entries(entries));

  it('balanced replicas move nobody', () => {
    const cases: Array<Record<string, number>> = [
      { a: 10, b: 10, c: 10 },
      { a: 0, b: 0 },
      { a: 500, b: 500, c: 500, d: 500 },
    ];
    for (const c of cases) {
      for (const self of Object.keys(c)) assert.equal(excessSubscribers(self, counts(c)), 0);
    }
  });

  it('a single replica (or one missing from the counts) moves nobody', () => {
    assert.equal(excessSubscribers('a', counts({ a: 1000 })), 0);
    assert.equal(excessSubscribers('a', new Map()), 0);
    assert.equal(excessSubscribers('z', counts({ a: 1000, b: 0 })), 0);
  });

  it('one replica far above: moves exactly 25% of its subscribers, and the others move nobody', () => {
    const c = counts({ a: 100, b: 0, c: 0 });
    assert.equal(excessSubscribers('a', c), 25);
    assert.equal(excessSubscribers('b', c), 0);
    assert.equal(excessSubscribers('c', c), 0);
    assert.equal(excessSubscribers('a', counts({ a: 1000, b: 0 })), 250);
  });

  it('never moves a replica below its fair share', () => {
    // fair = 750: at most 250 may move although 25% of 1000 is 250 too.
    assert.equal(excessSubscribers('a', counts({ a: 1000, b: 500 })), 250);
    // fair = 100: 25% would be 33 (rounded up), but only 30 are above the fair share.
    assert.equal(excessSubscribers('a', counts({ a: 130, b: 85, c: 85 })), 30);
    // fair = 48.5: 25% would be 16, but 61 - 12 = 49 is the lowest whole count at or above it.
    assert.equal(excessSubscribers('a', counts({ a: 61, b: 36 })), 12);
  });

  it('small differences move nobody: one subscriber more, or within +20% of the fair share', () => {
    const cases: Array<Record<string, number>> = [
      { a: 2, b: 1 },
      { a: 2, b: 0 },
      { a: 3, b: 2, c: 2 },
      { a: 11, b: 10 },
      { a: 12, b: 10 }, // fair 11, +20% = 13.2
      { a: 120, b: 100, c: 80 }, // fair 100, exactly +20%
      { a: 119, b: 81 },
      { a: 1, b: 0, c: 0, d: 0 },
    ];
    for (const c of cases) {
      for (const self of Object.keys(c)) {
        assert.equal(excessSubscribers(self, counts(c)), 0, `${self} in ${JSON.stringify(c)}`);
      }
    }
  });

  it('property: 0 ≤ excess ≤ 25% of mine (rounded up), never below the fair share, only when someone is clearly off', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    for (let k = 0; k < 2000; k++) {
      const n = 1 + Math.floor(random() * 6);
      const c = new Map(Array.from({ length: n }, (_, i) => [`r${i}`, Math.floor(random() * 300)] as const));
      const total = [...c.values()].reduce((a, b) => a + b, 0);
      const fair = total / n;
      for (const [self, mine] of c) {
        const excess = excessSubscribers(self, c);
        const where = `${self} in ${JSON.stringify([...c])}`;
        assert.ok(Number.isInteger(excess) && excess >= 0, `${where}: ${excess}`);
        assert.ok(excess <= Math.ceil(mine * 0.25), `${where}: ${excess} is more than 25% of ${mine}`);
        if (excess > 0) {
          assert.ok(mine - excess >= fair, `${where}: ${mine} - ${excess} is below the fair share ${fair}`);
          const clearlyAbove = mine > fair * 1.2 && mine - fair >= 2;
          const someoneClearlyBelow = [...c.values()].some(
            (x) => x < Math.floor(fair * 0.8) && fair - x >= 2,
          );
          assert.ok(clearlyAbove || someoneClearlyBelow, `${where}: moves although everyone is within ±20%`);
          assert.ok(mine - fair > 1, `${where}: moves on a difference of one`);
        }
      }
    }
  });

  /**
   * One round: every replica measures the same counts and sheds its excess; each shed subscriber
   * reconnects to the replica that is least loaded at that moment. Returns the final counts.
   */
  function rebalance(start: number[], maxRounds = 30): { counts: number[]; rounds: number } {
    const c = start.slice();
    for (let round = 0; round < maxRounds; round++) {
      const view = new Map(c.map((v, i) => [`r${i}`, v]));
      const excess = c.map((_, i) => excessSubscribers(`r${i}`, view));
      if (excess.every((e) => e === 0)) return { counts: c, rounds: round };
      let moving = 0;
      excess.forEach((e, i) => {
        c[i]! -= e;
        moving += e;
      });
      for (; moving > 0; moving--) c[c.indexOf(Math.min(...c))]!++;
    }
    return { counts: c, rounds: maxRounds };
  }

  function assertConverges(start: number[]): void {
    const { counts: end, rounds } = rebalance(start);
    const total = start.reduce((a, b) => a + b, 0);
    assert.equal(
      end.reduce((a, b) => a + b, 0),
      total,
      'the simulation neither loses nor creates subscribers',
    );
    assert.ok(rounds < 30, `${JSON.stringify(start)} still moving after 30 rounds: ${JSON.stringify(end)}`);
    const fair = total / start.length;
    const [lo, hi] = [Math.floor(fair * 0.8), Math.ceil(fair * 1.2)];
    for (const v of end) {
      assert.ok(
        v >= lo && v <= hi,
        `${JSON.stringify(start)} settled at ${JSON.stringify(end)} after ${rounds} rounds: ` +
          `${v} is outside ±20% of even (${lo}..${hi})`,
      );
    }
  }

  it('converges within ±20% of even: one replica holding everything', () => {
    assertConverges([300, 0, 0]);
    assertConverges([1000, 0]);
    assertConverges([500, 0, 0, 0, 0]);
    assertConverges([120, 40, 40]);
    assertConverges([200, 200, 200, 0]);
  });

  it('converges within ±20% of even: a third replica joins two loaded ones', () => {
    assertConverges([100, 100, 0]);
  });

  it('converges within ±20% of even: random distributions (fair share ≥ 20)', () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    for (let k = 0; k < 300; k++) {
      const n = 2 + Math.floor(random() * 5);
      const start = Array.from({ length: n }, () => Math.floor(random() * 400));
      if (start.reduce((a, b) => a + b, 0) / n < 20) continue;
      assertConverges(start);
    }
  });
});
