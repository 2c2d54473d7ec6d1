import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import v1 from '../v1.js';
import { ALICE, BOB, CAROL, MemoryState, tx } from './memory-state.js';

/** The error `validate` throws, or null. */
function validationError(/** @type {string} */ kind, /** @type {unknown} */ args) {
  try {
    v1.validate(kind, args);
    return null;
  } catch (error) {
    return /** @type {Error & { code?: string }} */ (error);
  }
}

describe('names 1.0.0: validate', () => {
  test('accepts well-formed arguments of every kind', () => {
    for (const [kind, args] of /** @type {Array<[string, unknown]>} */ ([
      ['register', { name: 'alice' }],
      ['register', { name: 'a' }],
      ['register', { name: 'x'.repeat(32) }],
      ['register', { name: 'my-name-42' }],
      ['transfer', { name: 'alice', to: BOB }],
      ['transfer', { name: 'alice', to: BOB.toUpperCase() }],
      ['release', { name: 'alice' }],
    ]))
      assert.equal(validationError(kind, args), null, `${kind} ${JSON.stringify(args)}`);
  });

  test('refuses unknown kinds with code unknown_kind, v2 kinds included', () => {
    for (const kind of ['renew', 'faucet', '', 'Register']) {
      const error = validationError(kind, { name: 'alice' });
      assert.equal(error?.code, 'unknown_kind', kind);
    }
  });

  test('refuses bad arguments with a plain error (bad_args)', () => {
    const bad = /** @type {Array<[string, unknown]>} */ ([
      ['register', null],
      ['register', 'alice'],
      ['register', ['alice']],
      ['register', {}],
      ['register', { name: '' }],
      ['register', { name: 'x'.repeat(33) }],
      ['register', { name: 'Alice' }],
      ['register', { name: 'al ice' }],
      ['register', { name: 'al_ice' }],
      ['register', { name: 'alice\u0000' }],
      ['register', { name: 7 }],
      ['register', { name: 'alice', extra: 1 }],
      ['release', { name: 'ALICE' }],
      ['transfer', { name: 'alice' }],
      ['transfer', { name: 'alice', to: 'b0' }],
      ['transfer', { name: 'alice', to: 'z'.repeat(64) }],
      ['transfer', { name: 'alice', to: BOB, amount: 1 }],
      ['transfer', { name: 'Alice', to: BOB }],
    ]);
    for (const [kind, args] of bad) {
      const error = validationError(kind, args);
      assert.ok(error instanceof Error, `${kind} ${JSON.stringify(args)} is refused`);
      assert.equal(error.code, undefined, `${kind} ${JSON.stringify(args)} is bad_args, not unknown_kind`);
      assert.ok(error.message.length > 0);
    }
  });
});

describe('names 1.0.0: apply and queries', () => {
  test('register: the signer owns the name from this height; the count follows', () => {
    const state = new MemoryState();
    assert.equal(state.query(v1, 'count'), 0);
    assert.equal(state.query(v1, 'owner', { name: 'alice' }), null);
    assert.deepEqual(state.apply(v1, tx(ALICE, 'register', { name: 'alice' }, 5)), { ok: true });
    assert.deepEqual(state.get('name:alice'), { owner: ALICE, since: 5 });
    assert.equal(state.query(v1, 'owner', { name: 'alice' }), ALICE);
    assert.equal(state.query(v1, 'count'), 1);
    assert.deepEqual(state.apply(v1, tx(BOB, 'register', { name: 'bob' }, 6)), { ok: true });
    assert.equal(state.query(v1, 'count'), 2);
  });

  test('register of a taken name is refused "taken" and changes nothing', () => {
    const state = new MemoryState();
    state.apply(v1, tx(ALICE, 'register', { name: 'alice' }, 1));
    const writes = state.writes.length;
    for (const from of [BOB, ALICE])
      assert.deepEqual(state.apply(v1, tx(from, 'register', { name: 'alice' }, 2)), {
        ok: false,
        error: 'taken',
      });
    assert.equal(state.writes.length, writes);
    assert.equal(state.query(v1, 'owner', { name: 'alice' }), ALICE);
    assert.equal(state.query(v1, 'count'), 1);
  });

  test('transfer: only the owner; the new owner holds it from the transfer height', () => {
    const state = new MemoryState();
    state.apply(v1, tx(ALICE, 'register', { name: 'alice' }, 1));
    assert.deepEqual(state.apply(v1, tx(BOB, 'transfer', { name: 'alice', to: BOB }, 2)), {
      ok: false,
      error: 'not_owner',
    });
    assert.deepEqual(state.apply(v1, tx(ALICE, 'transfer', { name: 'nobody', to: BOB }, 2)), {
      ok: false,
      error: 'not_registered',
    });
    assert.deepEqual(state.apply(v1, tx(ALICE, 'transfer', { name: 'alice', to: BOB.toUpperCase() }, 3)), {
      ok: true,
    });
    assert.deepEqual(state.get('name:alice'), { owner: BOB, since: 3 });
    assert.equal(state.query(v1, 'owner', { name: 'alice' }), BOB);
    // The former owner lost every right over it; the new one has them.
    assert.deepEqual(state.apply(v1, tx(ALICE, 'release', { name: 'alice' }, 4)), {
      ok: false,
      error: 'not_owner',
    });
    assert.deepEqual(state.apply(v1, tx(BOB, 'transfer', { name: 'alice', to: CAROL }, 5)), { ok: true });
    assert.equal(state.query(v1, 'owner', { name: 'alice' }), CAROL);
    assert.equal(state.query(v1, 'count'), 1);
  });

  test('transfer to oneself succeeds and writes nothing', () => {
    const state = new MemoryState();
    state.apply(v1, tx(ALICE, 'register', { name: 'alice' }, 1));
    const writes = state.writes.length;
    assert.deepEqual(state.apply(v1, tx(ALICE, 'transfer', { name: 'alice', to: ALICE }, 2)), { ok: true });
    assert.equal(state.writes.length, writes);
    assert.deepEqual(state.get('name:alice'), { owner: ALICE, since: 1 });
  });

  test('release: only the owner; the name is free again and the count drops', () => {
    const state = new MemoryState();
    state.apply(v1, tx(ALICE, 'register', { name: 'alice' }, 1));
    assert.deepEqual(state.apply(v1, tx(BOB, 'release', { name: 'alice' }, 2)), {
      ok: false,
      error: 'not_owner',
    });
    assert.deepEqual(state.apply(v1, tx(ALICE, 'release', { name: 'alice' }, 3)), { ok: true });
    assert.equal(state.get('name:alice'), null);
    assert.equal(state.query(v1, 'owner', { name: 'alice' }), null);
    assert.equal(state.query(v1, 'count'), 0);
    assert.deepEqual(state.apply(v1, tx(ALICE, 'release', { name: 'alice' }, 4)), {
      ok: false,
      error: 'not_registered',
    });
    assert.deepEqual(state.apply(v1, tx(BOB, 'register', { name: 'alice' }, 5)), { ok: true });
    assert.deepEqual(state.get('name:alice'), { owner: BOB, since: 5 });
    assert.equal(state.query(v1, 'count'), 1);
  });

  test('apply re-checks its arguments and refuses unknown kinds', () => {
    const state = new MemoryState();
    const bad = state.apply(v1, tx(ALICE, 'register', { name: 'NOT OK' }, 1));
    assert.equal(bad.ok, false);
    assert.deepEqual(state.apply(v1, tx(ALICE, 'renew', { name: 'alice' }, 1)), {
      ok: false,
      error: 'unknown_kind',
    });
    assert.equal(state.writes.length, 0);
  });

  test('the owner query refuses bad arguments', () => {
    const state = new MemoryState();
    assert.throws(() => state.query(v1, 'owner', null), /owner takes/);
    assert.throws(() => state.query(v1, 'owner', { name: 'Bad!' }), /owner takes/);
  });
});
