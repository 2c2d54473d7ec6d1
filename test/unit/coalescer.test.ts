import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Coalescer } from '../../src/coalescer.js';

describe('Coalescer', () => {
  it('runs the calls of one turn together, and calls made during a run in the next run', async () => {
    const runs: number[][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const c = new Coalescer(async (keys: number[]) => {
      runs.push(keys);
      if (runs.length === 1) await gate;
      return keys.map((k) => k * 10);
    });
    const first = [c.get(1), c.get(2), c.get(3)];
    await new Promise((resolve) => setImmediate(resolve));
    const second = [c.get(4), c.get(5)];
    release();
    assert.deepEqual(await Promise.all([...first, ...second]), [10, 20, 30, 40, 50]);
    assert.deepEqual(runs, [
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('rejects every call of a failed run and goes on with later ones', async () => {
    let fail = true;
    const c = new Coalescer((keys: string[]) =>
      fail ? Promise.reject(new Error('down')) : Promise.resolve(keys.map((k) => k.toUpperCase())),
    );
    const results = await Promise.allSettled([c.get('a'), c.get('b')]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    fail = false;
    assert.equal(await c.get('c'), 'C');
  });

  it('hands run at most maxBatch keys at a time, in order, and counts the calls still waiting', async () => {
    const runs: number[][] = [];
    const c = new Coalescer((keys: number[]) => {
      runs.push(keys);
      return Promise.resolve(keys);
    }, 2);
    const all = Promise.all([1, 2, 3, 4, 5].map((k) => c.get(k)));
    assert.equal(c.queued, 5);
    assert.deepEqual(await all, [1, 2, 3, 4, 5]);
    assert.deepEqual(runs, [[1, 2], [3, 4], [5]]);
    assert.equal(c.queued, 0);
  });
});
