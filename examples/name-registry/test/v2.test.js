import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import v1 from '../v1.js';
import v2, { HEIGHT_KEY, TERM } from '../v2.js';
import index, { v1 as indexV1, v2 as indexV2 } from '../index.js';
import { ALICE, BOB, CAROL, MemoryState, tx } from './memory-state.js';

describe('names 2.0.0: validate', () => {
  test('knows renew besides the v1 kinds', () => {
    for (const [kind, args] of /** @type {Array<[string, unknown]>} */ ([
      ['register', { name: 'alice' }],
      ['renew', { name: 'alice' }],
      ['transfer', { name: 'alice', to: BOB }],
      ['release', { name: 'alice' }],
    ]))
      assert.doesNotThrow(() => v2.validate(kind, args), kind);
    assert.throws(
      () => v2.validate('renew', { name: 'alice', years: 2 }),
      (error) => {
        assert.equal(/** @type {{ code?: string }} */ (error).code, undefined);
        return true;
      },
    );
    assert.throws(() => v2.validate('expire', { name: 'alice' }), { code: 'unknown_kind' });
  });
});

describe('names 2.0.0: apply and queries', () => {
  test('register records an expiry TERM blocks ahead and answers it', () => {
    const state = new MemoryState();
    assert.deepEqual(state.apply(v2, tx(ALICE, 'register', { name: 'alice' }, 10)), {
      ok: true,
      result: { expires: 10 + TERM },
    });
    assert.deepEqual(state.get('name:alice'), { owner: ALICE, since: 10, expires: 10 + TERM });
    assert.equal(state.get(HEIGHT_KEY), 10);
    assert.equal(state.query(v2, 'owner', { name: 'alice' }), ALICE);
    assert.deepEqual(state.query(v2, 'record', { name: 'alice' }), {
      owner: ALICE,
      since: 10,
      expires: 10 + TERM,
    });
    assert.equal(state.query(v2, 'record', { name: 'nobody' }), null);
    assert.equal(state.query(v2, 'count'), 1);
  });

  test('a registration holds through its expiry height and is free after it', () => {
    const state = new MemoryState();
    state.apply(v2, tx(ALICE, 'register', { name: 'alice' }, 1));
    const expires = 1 + TERM;
    assert.deepEqual(state.apply(v2, tx(BOB, 'register', { name: 'alice' }, expires)), {
      ok: false,
      error: 'taken',
    });
    assert.equal(state.get(HEIGHT_KEY), 1, 'a refused transaction leaves no trace, its height included');
    // Another name's transaction moves the height the owner query judges expiry at.
    state.apply(v2, tx(CAROL, 'register', { name: 'carol' }, expires));
    assert.equal(state.query(v2, 'owner', { name: 'alice' }), ALICE);
    state.apply(v2, tx(CAROL, 'renew', { name: 'carol' }, expires + 1));
    assert.equal(state.query(v2, 'owner', { name: 'alice' }), null, 'expired as of the newest height');
    assert.equal(state.query(v2, 'count'), 2, 'an expired record still counts until taken again');

    assert.deepEqual(state.apply(v2, tx(BOB, 'register', { name: 'alice' }, expires + 1)), {
      ok: true,
      result: { expires: expires + 1 + TERM },
    });
    assert.deepEqual(state.get('name:alice'), {
      owner: BOB,
      since: expires + 1,
      expires: expires + 1 + TERM,
    });
    assert.equal(state.query(v2, 'owner', { name: 'alice' }), BOB);
    assert.equal(state.query(v2, 'count'), 2, 'taking an expired name replaces its record');
  });

  test('the former owner of an expired name can neither renew, transfer nor release it, only register it', () => {
    const state = new MemoryState();
    state.apply(v2, tx(ALICE, 'register', { name: 'alice' }, 1));
    const after = 2 + TERM;
    for (const [kind, args] of /** @type {Array<[string, unknown]>} */ ([
      ['renew', { name: 'alice' }],
      ['transfer', { name: 'alice', to: BOB }],
      ['release', { name: 'alice' }],
    ]))
      assert.deepEqual(state.apply(v2, tx(ALICE, kind, args, after)), { ok: false, error: 'expired' }, kind);
    assert.equal(state.apply(v2, tx(ALICE, 'register', { name: 'alice' }, after)).ok, true);
    assert.deepEqual(state.get('name:alice'), { owner: ALICE, since: after, expires: after + TERM });
  });

  test('renew: only the owner, while it holds; it pushes the expiry to TERM blocks from now', () => {
    const state = new MemoryState();
    state.apply(v2, tx(ALICE, 'register', { name: 'alice' }, 100));
    assert.deepEqual(state.apply(v2, tx(BOB, 'renew', { name: 'alice' }, 200)), {
      ok: false,
      error: 'not_owner',
    });
    assert.deepEqual(state.apply(v2, tx(ALICE, 'renew', { name: 'nobody' }, 200)), {
      ok: false,
      error: 'not_registered',
    });
    assert.deepEqual(state.apply(v2, tx(ALICE, 'renew', { name: 'alice' }, 600)), {
      ok: true,
      result: { expires: 600 + TERM },
    });
    assert.deepEqual(state.get('name:alice'), { owner: ALICE, since: 100, expires: 600 + TERM });
    // Renewing on the very last height still works; renewals do not pile up.
    assert.equal(state.apply(v2, tx(ALICE, 'renew', { name: 'alice' }, 600 + TERM)).ok, true);
    assert.equal(state.apply(v2, tx(ALICE, 'renew', { name: 'alice' }, 600 + TERM)).ok, true);
    assert.deepEqual(state.get('name:alice'), { owner: ALICE, since: 100, expires: 600 + 2 * TERM });
    assert.deepEqual(state.apply(v2, tx(BOB, 'register', { name: 'alice' }, 600 + 2 * TERM)), {
      ok: false,
      error: 'taken',
    });
  });

  test('transfer keeps the expiry; release frees the name at once', () => {
    const state = new MemoryState();
    state.apply(v2, tx(ALICE, 'register', { name: 'alice' }, 1));
    assert.deepEqual(state.apply(v2, tx(BOB, 'transfer', { name: 'alice', to: CAROL }, 2)), {
      ok: false,
      error: 'not_owner',
    });
    assert.deepEqual(state.apply(v2, tx(ALICE, 'transfer', { name: 'alice', to: BOB }, 3)), { ok: true });
    assert.deepEqual(state.get('name:alice'), { owner: BOB, since: 3, expires: 1 + TERM });
    assert.deepEqual(state.apply(v2, tx(ALICE, 'renew', { name: 'alice' }, 4)), {
      ok: false,
      error: 'not_owner',
    });
    assert.deepEqual(state.apply(v2, tx(BOB, 'release', { name: 'alice' }, 5)), { ok: true });
    assert.equal(state.get('name:alice'), null);
    assert.equal(state.query(v2, 'owner', { name: 'alice' }), null);
    assert.equal(state.query(v2, 'count'), 0);
    assert.equal(state.apply(v2, tx(CAROL, 'register', { name: 'alice' }, 6)).ok, true);
    assert.equal(state.query(v2, 'count'), 1);
  });

  test('reads records v1 wrote as never expiring', () => {
    const state = new MemoryState();
    // A lane's history under v1 …
    state.apply(v1, tx(ALICE, 'register', { name: 'alice' }, 1));
    state.apply(v1, tx(BOB, 'register', { name: 'bob' }, 2));
    state.apply(v1, tx(BOB, 'register', { name: 'gone' }, 3));
    state.apply(v1, tx(BOB, 'release', { name: 'gone' }, 4));
    assert.equal(state.get(HEIGHT_KEY), undefined);
    // … then v2, far past any term.
    const later = 5 + 10 * TERM;
    assert.equal(state.query(v2, 'owner', { name: 'alice' }), ALICE);
    assert.deepEqual(state.query(v2, 'record', { name: 'alice' }), { owner: ALICE, since: 1, expires: null });
    assert.equal(state.query(v2, 'count'), 2);
    assert.deepEqual(state.apply(v2, tx(CAROL, 'register', { name: 'alice' }, later)), {
      ok: false,
      error: 'taken',
    });
    assert.equal(state.query(v2, 'owner', { name: 'alice' }), ALICE, 'still held at the newest height');
    assert.deepEqual(state.apply(v2, tx(ALICE, 'renew', { name: 'alice' }, later)), {
      ok: true,
      result: { expires: null },
    });
    assert.deepEqual(
      state.get('name:alice'),
      { owner: ALICE, since: 1 },
      'renew leaves a v1 record as it is',
    );
    assert.equal(state.apply(v2, tx(BOB, 'transfer', { name: 'bob', to: CAROL }, later + 1)).ok, true);
    assert.deepEqual(state.get('name:bob'), { owner: CAROL, since: later + 1 }, 'still without expiry');
    assert.equal(state.apply(v2, tx(ALICE, 'release', { name: 'alice' }, later + 2)).ok, true);
    assert.equal(state.query(v2, 'count'), 1);
    // A name v1 released is registered under v2's rules.
    assert.equal(state.apply(v2, tx(CAROL, 'register', { name: 'gone' }, later + 3)).ok, true);
    assert.deepEqual(state.get('name:gone'), { owner: CAROL, since: later + 3, expires: later + 3 + TERM });
    assert.equal(state.query(v2, 'count'), 2);
  });

  test('apply re-checks its arguments and refuses unknown kinds without writing', () => {
    const state = new MemoryState();
    assert.equal(state.apply(v2, tx(ALICE, 'renew', { name: 'A' }, 1)).ok, false);
    assert.deepEqual(state.apply(v2, tx(ALICE, 'faucet', { amount: 1 }, 1)), {
      ok: false,
      error: 'unknown_kind',
    });
    assert.equal(state.writes.length, 0);
  });
});

test('index.js exports both versions by name and as its default array', () => {
  assert.equal(indexV1, v1);
  assert.equal(indexV2, v2);
  assert.deepEqual(index, [v1, v2]);
  assert.deepEqual(
    index.map((app) => [app.name, app.version]),
    [
      ['names', '1.0.0'],
      ['names', '2.0.0'],
    ],
  );
});
