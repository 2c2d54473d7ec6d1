import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Random } from '../../src/chaos/random.js';
import { FAULT_KINDS, Schedule } from '../../src/chaos/schedule.js';

const options = { kinds: FAULT_KINDS, lanes: 2, leaseTtlMs: 1_500, meanEveryMs: 3_000 };

function plans(seed: number, n: number) {
  const schedule = new Schedule(new Random(seed).fork('faults'), options);
  return Array.from({ length: n }, () => schedule.next());
}

test('the same seed gives the same faults with the same parameters; another seed does not', () => {
  assert.deepEqual(plans(42, 30), plans(42, 30));
  assert.notDeepEqual(plans(42, 30), plans(43, 30));
});

test('each round of the schedule has every enabled kind once', () => {
  const all = plans(7, FAULT_KINDS.length * 3);
  for (let round = 0; round < 3; round++) {
    const kinds = all.slice(round * FAULT_KINDS.length, (round + 1) * FAULT_KINDS.length).map((p) => p.kind);
    assert.deepEqual([...kinds].sort(), [...FAULT_KINDS].sort());
  }
  const some = new Schedule(new Random(7), { ...options, kinds: ['partition', 'slow-db'] });
  const drawn = Array.from({ length: 6 }, () => some.next().kind);
  assert.deepEqual(new Set(drawn), new Set(['partition', 'slow-db']));
});

test('fault parameters stay in their bounds', () => {
  for (const p of plans(99, 500)) {
    assert.ok(p.gapMs >= options.meanEveryMs / 4 && p.gapMs <= 3 * options.meanEveryMs, `gap ${p.gapMs}`);
    assert.ok(p.holdMs > 0 && p.holdMs <= options.leaseTtlMs + 4_000, `hold ${p.holdMs}`);
    assert.ok(p.lane >= 0 && p.lane < options.lanes);
    if (p.kind === 'partition' || p.kind === 'half-open') assert.ok(p.holdMs > options.leaseTtlMs);
  }
});

test('the seeded generator is reproducible and its forks are independent', () => {
  const a = new Random(5);
  const b = new Random(5);
  const xs = Array.from({ length: 100 }, () => a.uint32());
  assert.deepEqual(
    xs,
    Array.from({ length: 100 }, () => b.uint32()),
  );
  assert.notDeepEqual(
    Array.from({ length: 10 }, () => new Random(5).fork('a').uint32()),
    Array.from({ length: 10 }, () => new Random(5).fork('b').uint32()),
  );
  const r = new Random(1);
  for (let i = 0; i < 1_000; i++) {
    const v = r.int(3, 9);
    assert.ok(v >= 3 && v <= 9 && Number.isInteger(v));
  }
});
