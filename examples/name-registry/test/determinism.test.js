import assert from 'node:assert/strict';
import { test } from 'node:test';
import v1 from '../v1.js';
import v2, { TERM } from '../v2.js';
import { ALICE, BOB, CAROL, MemoryState, tx } from './memory-state.js';

/** A small seeded generator (mulberry32): the workload is the same on every run. */
function prng(/** @type {number} */ seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A mixed workload over few names and accounts, so that most kinds meet each other: takes,
 * refusals, transfers, releases and (with gaps of more than a term) expiries.
 * @param {number} seed
 * @param {string[]} kinds
 */
function workload(seed, kinds) {
  const random = prng(seed);
  const pick = /** @template T @param {T[]} items @returns {T} */ (items) =>
    /** @type {T} */ (items[Math.floor(random() * items.length)]);
  const accounts = [ALICE, BOB, CAROL];
  const names = ['a', 'b', 'c', 'name-4'];
  const txs = [];
  let height = 1;
  for (let i = 0; i < 400; i++) {
    height += random() < 0.05 ? TERM : Math.floor(random() * 3);
    const kind = pick(kinds);
    const name = pick(names);
    const args = kind === 'transfer' ? { name, to: pick(accounts) } : { name };
    txs.push(tx(pick(accounts), kind, args, height));
  }
  return txs;
}

/** Applies `txs` to a fresh state with the wall clock and randomness unavailable. */
function run(/** @type {import('baton').App} */ app, /** @type {ReturnType<typeof workload>} */ txs) {
  const state = new MemoryState();
  const { now } = Date;
  const { random } = Math;
  const forbidden = () => {
    throw new Error('apply must not read the clock or randomness');
  };
  Date.now = forbidden;
  Math.random = forbidden;
  try {
    const results = txs.map((t) => state.apply(app, t));
    return { results, writes: state.writes, values: Object.fromEntries(state.values) };
  } finally {
    Date.now = now;
    Math.random = random;
  }
}

for (const [app, kinds] of /** @type {Array<[import('baton').App, string[]]>} */ ([
  [v1, ['register', 'register', 'transfer', 'release']],
  [v2, ['register', 'register', 'renew', 'transfer', 'release']],
])) {
  test(`names ${app.version}: the same transactions give the same results and writes`, () => {
    const txs = workload(42, kinds);
    const first = run(app, txs);
    const second = run(app, txs);
    assert.deepEqual(second, first);
    // Replaying from a copy of the transactions as a block would hold them (JSON) changes nothing.
    /** @type {unknown} */
    const stored = JSON.parse(JSON.stringify(txs));
    const copied = run(app, /** @type {typeof txs} */ (stored));
    assert.deepEqual(copied, first);
    // The workload exercises what it should: some of every outcome.
    const outcomes = new Set(first.results.map((r) => (r.ok ? 'ok' : r.error)));
    for (const outcome of ['ok', 'taken', 'not_owner', 'not_registered'])
      assert.ok(outcomes.has(outcome), `${outcome} among ${[...outcomes].join(', ')}`);
    if (app === v2) assert.ok(outcomes.has('expired'), `expired among ${[...outcomes].join(', ')}`);
    // The count always equals the number of records held.
    const held = Object.entries(first.values).filter(([k, v]) => k.startsWith('name:') && v !== null);
    assert.equal(first.values['count'] ?? 0, held.length);
  });
}
