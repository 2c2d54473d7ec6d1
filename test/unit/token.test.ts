import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AppState, JsonValue, TxContext } from '../../src/apps/app.js';
import { FAUCET_MAX, SUPPLY_KEY, balanceKey, tokenApp } from '../../src/apps/token.js';

/** A Map-backed AppState that records every write. */
class MapState implements AppState {
  readonly values = new Map<string, JsonValue>();
  readonly writes: Array<[string, JsonValue]> = [];

  get(key: string): JsonValue | undefined {
    return this.values.get(key);
  }

  set(key: string, value: JsonValue): void {
    this.writes.push([key, value]);
    this.values.set(key, value);
  }

  balance(account: string): number {
    const v = this.values.get(balanceKey(account));
    return typeof v === 'number' ? v : 0;
  }

  supply(): number {
    const v = this.values.get(SUPPLY_KEY);
    return typeof v === 'number' ? v : 0;
  }

  sumOfBalances(): number {
    let sum = 0;
    for (const [key, value] of this.values) {
      if (key.startsWith('balance:')) {
        assert.equal(typeof value, 'number', `${key} holds a number`);
        sum += value as number;
      }
    }
    return sum;
  }
}

/** mulberry32: a tiny deterministic PRNG, so a failing sequence can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const account = (n: number): string => n.toString(16).padStart(2, '0').repeat(32);
const A = account(0xaa);
const B = account(0xbb);

let counter = 0;
function tx(from: string, kind: string, args: unknown): TxContext {
  counter++;
  return {
    id: counter.toString(16).padStart(64, '0'),
    from,
    kind,
    args,
    height: 1,
    time: '2026-01-01T00:00:00.000Z',
  };
}

describe('token app: faucet', () => {
  it('credits the signer and raises the supply', () => {
    const state = new MapState();
    assert.deepEqual(tokenApp.apply(state, tx(A, 'faucet', { amount: 100 })), { ok: true });
    assert.equal(state.balance(A), 100);
    assert.equal(state.supply(), 100);
    assert.deepEqual(tokenApp.apply(state, tx(A, 'faucet', { amount: FAUCET_MAX })), { ok: true });
    assert.equal(state.balance(A), 100 + FAUCET_MAX);
    assert.equal(state.supply(), 100 + FAUCET_MAX);
  });

  it('keys balances by the lowercase account whatever the case of `from`', () => {
    const state = new MapState();
    tokenApp.apply(state, tx(A.toUpperCase(), 'faucet', { amount: 5 }));
    assert.equal(state.values.get(`balance:${A}`), 5);
    assert.equal(state.values.has(`balance:${A.toUpperCase()}`), false);
  });

  it('throws on invalid args instead of crediting (intake refuses them; the leader records a failure)', () => {
    const state = new MapState();
    for (const args of [{ amount: 0 }, { amount: FAUCET_MAX + 1 }, { amount: 1.5 }, { amount: '5' }, null]) {
      assert.throws(() => tokenApp.apply(state, tx(A, 'faucet', args)));
    }
    assert.equal(state.writes.length, 0);
  });
});

describe('token app: transfer', () => {
  it('moves funds from the signer to the recipient', () => {
    const state = new MapState();
    tokenApp.apply(state, tx(A, 'faucet', { amount: 100 }));
    assert.deepEqual(tokenApp.apply(state, tx(A, 'transfer', { to: B, amount: 30 })), { ok: true });
    assert.equal(state.balance(A), 70);
    assert.equal(state.balance(B), 30);
    assert.equal(state.supply(), 100);
  });

  it('can move the whole balance', () => {
    const state = new MapState();
    tokenApp.apply(state, tx(A, 'faucet', { amount: 10 }));
    assert.deepEqual(tokenApp.apply(state, tx(A, 'transfer', { to: B, amount: 10 })), { ok: true });
    assert.equal(state.balance(A), 0);
    assert.equal(state.balance(B), 10);
  });

  it('credits a recipient given in uppercase hex to the lowercase account', () => {
    const state = new MapState();
    tokenApp.apply(state, tx(A, 'faucet', { amount: 10 }));
    tokenApp.apply(state, tx(A, 'transfer', { to: B.toUpperCase(), amount: 4 }));
    assert.equal(state.balance(B), 4);
    assert.equal(state.values.has(`balance:${B.toUpperCase()}`), false);
  });

  it('refuses a transfer without enough balance and writes nothing', () => {
    const state = new MapState();
    tokenApp.apply(state, tx(A, 'faucet', { amount: 10 }));
    const before = new Map(state.values);
    const writes = state.writes.length;
    assert.deepEqual(tokenApp.apply(state, tx(A, 'transfer', { to: B, amount: 11 })), {
      ok: false,
      error: 'insufficient_funds',
    });
    assert.equal(state.writes.length, writes);
    assert.deepEqual(state.values, before);
  });

  it('refuses a transfer from an account that never had funds and writes nothing', () => {
    const state = new MapState();
    assert.deepEqual(tokenApp.apply(state, tx(B, 'transfer', { to: A, amount: 1 })), {
      ok: false,
      error: 'insufficient_funds',
    });
    assert.equal(state.writes.length, 0);
  });

  it('a transfer to self succeeds and leaves the balance unchanged', () => {
    const state = new MapState();
    tokenApp.apply(state, tx(A, 'faucet', { amount: 10 }));
    assert.deepEqual(tokenApp.apply(state, tx(A, 'transfer', { to: A, amount: 10 })), { ok: true });
    assert.equal(state.balance(A), 10);
    assert.deepEqual(tokenApp.apply(state, tx(A, 'transfer', { to: A.toUpperCase(), amount: 3 })), {
      ok: true,
    });
    assert.equal(state.balance(A), 10);
    assert.equal(state.supply(), 10);
  });

  it('a transfer to self is still refused beyond the balance', () => {
    const state = new MapState();
    tokenApp.apply(state, tx(A, 'faucet', { amount: 10 }));
    assert.deepEqual(tokenApp.apply(state, tx(A, 'transfer', { to: A, amount: 11 })), {
      ok: false,
      error: 'insufficient_funds',
    });
  });

  it('throws on invalid args and writes nothing', () => {
    const state = new MapState();
    tokenApp.apply(state, tx(A, 'faucet', { amount: 10 }));
    const writes = state.writes.length;
    for (const args of [
      { to: 'zz', amount: 1 },
      { to: B, amount: 0 },
      { to: B, amount: -1 },
      { to: B, amount: 1, extra: 1 },
    ]) {
      assert.throws(() => tokenApp.apply(state, tx(A, 'transfer', args)));
    }
    assert.equal(state.writes.length, writes);
  });
});

describe('token app: other kinds', () => {
  it('refuses an unknown kind at apply without writing', () => {
    const state = new MapState();
    assert.deepEqual(tokenApp.apply(state, tx(A, 'mint', { amount: 1 })), {
      ok: false,
      error: 'unknown_kind',
    });
    assert.equal(state.writes.length, 0);
  });
});

describe('token app: conservation', () => {
  for (const seed of [1, 42, 0xc0ffee]) {
    it(`total supply equals the sum of balances after 1000 random operations (seed ${seed})`, () => {
      const random = prng(seed);
      const pick = (n: number): number => Math.floor(random() * n);
      const accounts = Array.from({ length: 6 }, (_, i) => account(0x10 + i));
      const state = new MapState();
      let minted = 0;
      let refused = 0;
      for (let i = 0; i < 1000; i++) {
        const from = accounts[pick(accounts.length)]!;
        const op = random();
        if (op < 0.3) {
          const amount = 1 + pick(FAUCET_MAX);
          assert.deepEqual(tokenApp.apply(state, tx(from, 'faucet', { amount })), { ok: true });
          minted += amount;
        } else {
          const to = accounts[pick(accounts.length)]!;
          const available = state.balance(from);
          // Sometimes more than the balance, sometimes exactly it.
          const amount = op < 0.4 ? Math.max(1, available) : 1 + pick(Math.max(1, available * 2));
          const before = new Map(state.values);
          const result = tokenApp.apply(state, tx(from, 'transfer', { to, amount }));
          if (amount > available) {
            assert.deepEqual(result, { ok: false, error: 'insufficient_funds' });
            assert.deepEqual(state.values, before);
            refused++;
          } else {
            assert.deepEqual(result, { ok: true });
            if (to !== from) assert.equal(state.balance(from), available - amount);
          }
        }
        for (const a of accounts) assert.ok(state.balance(a) >= 0, `balance of ${a} is negative`);
        assert.equal(state.supply(), minted);
        assert.equal(state.sumOfBalances(), minted);
      }
      assert.ok(refused > 0, 'the sequence exercised refused transfers');
    });
  }
});
