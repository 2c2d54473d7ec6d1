import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { App, AppState, ApplyResult, AppQuery, JsonValue, TxContext } from '../../src/apps/app.js';
import { AppRunner, QueryError, type TxOutcome, type TxToApply } from '../../src/apps/runner.js';
import { MAX_DEPTH, MAX_KEY_LENGTH, MAX_VALUE_CHARS } from '../../src/apps/values.js';
import { canonicalJson } from '../../src/ledger/canonical.js';
import { LaneState, type StateOverlay } from '../../src/ledger/lane-state.js';
import { GENESIS_PARENT } from '../../src/db/migrations.js';

const BUDGET_MS = 50;

type Step = (state: AppState, tx: TxContext) => unknown;

/** An app whose `apply` runs the step named by the transaction's kind. */
function appOf(steps: Record<string, Step>, queries?: Record<string, AppQuery>): App {
  return {
    name: 'edges',
    version: '1.0.0',
    validate: () => undefined,
    apply(state, tx) {
      const step = steps[tx.kind];
      if (!step) return { ok: false, error: `no kind ${tx.kind}` };
      return step(state, tx) as ApplyResult;
    },
    ...(queries ? { queries } : {}),
  };
}

function laneWith(entries: Array<[string, JsonValue]> = []): LaneState {
  return new LaneState({ height: 3, tipHash: GENESIS_PARENT, tipTime: 0, version: '1.0.0', entries });
}

let nextId = 0;
function tx(kind: string, args: unknown = null): TxToApply {
  nextId++;
  const context: TxContext = {
    id: nextId.toString(16).padStart(64, '0'),
    from: 'a'.repeat(64),
    kind,
    args,
    height: 4,
    time: '2024-01-02T03:04:05.678Z',
  };
  return { tx: context };
}

/** Writes `args.value` under `args.key` (default "k") and answers ok. */
const write: Step = (state, t) => {
  const args = t.args as { key?: unknown; value?: unknown };
  state.set(('key' in args ? args.key : 'k') as string, args.value as JsonValue);
  return { ok: true };
};

/** Adds one to the counter `n`. */
const bump: Step = (state) => {
  const n = state.get('n');
  state.set('n', (typeof n === 'number' ? n : 0) + 1);
  return { ok: true };
};

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin: a transaction that is merely slow
  }
}

function run(app: App, overlay: StateOverlay, txs: TxToApply[], budgetMs = BUDGET_MS): TxOutcome[] {
  return new AppRunner(budgetMs).applyAll(app, overlay, txs);
}

function assertRefused(outcome: TxOutcome | undefined, pattern?: RegExp): void {
  assert.ok(outcome, 'an outcome for every transaction');
  assert.equal(outcome.ok, false, `expected a refusal, got ${JSON.stringify(outcome)}`);
  if (pattern && !outcome.ok) assert.match(outcome.error, pattern);
}

describe('AppRunner.applyAll: refusals are per transaction', () => {
  it('refuses an apply that throws, rolls back its writes and applies the transactions after it', () => {
    const lane = laneWith([['n', 10]]);
    const overlay = lane.overlay();
    const app = appOf({
      bump,
      boom: (state) => {
        state.set('n', 999);
        state.set('partial', 'written before the throw');
        throw new Error('boom at apply');
      },
    });
    const results = run(app, overlay, [tx('bump'), tx('boom'), tx('bump')]);
    assert.deepEqual(results[0], { ok: true });
    assert.deepEqual(results[1], { ok: false, error: 'boom at apply' });
    assert.deepEqual(results[2], { ok: true });
    assert.equal(overlay.get('n'), 12, 'both bumps, none of the refused write');
    assert.equal(overlay.get('partial'), undefined);
    assert.deepEqual(overlay.changes(), [['n', 12]]);
    assert.equal(lane.get('n'), 10, 'the base state is untouched');
  });

  it('refuses a thrown non-Error (a string, an object, undefined) with a text', () => {
    const app = appOf({
      str: () => {
        throw 'plain string'; // eslint-disable-line @typescript-eslint/only-throw-error
      },
      obj: () => {
        throw { weird: true }; // eslint-disable-line @typescript-eslint/only-throw-error
      },
      undef: () => {
        throw undefined; // eslint-disable-line @typescript-eslint/only-throw-error
      },
      bump,
    });
    const overlay = laneWith().overlay();
    const results = run(app, overlay, [tx('str'), tx('obj'), tx('undef'), tx('bump')]);
    assert.deepEqual(results[0], { ok: false, error: 'plain string' });
    assertRefused(results[1]);
    assertRefused(results[2]);
    assert.deepEqual(results[3], { ok: true });
    assert.equal(overlay.get('n'), 1);
  });

  // One refusal must never make applyAll (and so the whole block, again and again) throw.
  const oddErrors: Array<[string, () => Error]> = [
    [
      'an Error whose message is not a string',
      () => {
        const error = new Error('x');
        (error as unknown as { message: unknown }).message = 42;
        return error;
      },
    ],
    [
      'an Error whose message getter throws',
      () => {
        const error = new Error('x');
        Object.defineProperty(error, 'message', {
          get() {
            throw new Error('the message getter throws');
          },
        });
        return error;
      },
    ],
  ];
  for (const [what, make] of oddErrors) {
    it(`refuses an apply that throws ${what}, and applies the transactions after it`, () => {
      const app = appOf({
        odd: (state) => {
          state.set('odd', 1);
          throw make();
        },
        bump,
      });
      const overlay = laneWith().overlay();
      let results: TxOutcome[] = [];
      assert.doesNotThrow(() => {
        results = run(app, overlay, [tx('bump'), tx('odd'), tx('bump')]);
      }, 'applyAll must not throw for one transaction');
      assert.deepEqual(results[0], { ok: true });
      assertRefused(results[1]);
      assert.deepEqual(results[2], { ok: true });
      assert.deepEqual(overlay.changes(), [['n', 2]]);
    });
  }

  it('refuses a stack overflow like any throw', () => {
    const recurse = (n: number): number => recurse(n + 1) + 1;
    const app = appOf({ deep: () => recurse(0), bump });
    const overlay = laneWith().overlay();
    const results = run(app, overlay, [tx('deep'), tx('bump')], 1_000);
    assertRefused(results[0]);
    assert.deepEqual(results[1], { ok: true });
  });

  it('commits {ok:false} as a refusal and rolls back what that transaction wrote', () => {
    const app = appOf({
      no: (state) => {
        state.set('n', 5);
        return { ok: false, error: 'insufficient_funds' };
      },
      noText: (state) => {
        state.set('n', 6);
        return { ok: false, error: 7 };
      },
      bump,
    });
    const overlay = laneWith().overlay();
    const results = run(app, overlay, [tx('bump'), tx('no'), tx('noText'), tx('bump')]);
    assert.deepEqual(results, [
      { ok: true },
      { ok: false, error: 'insufficient_funds' },
      { ok: false, error: 'refused' },
      { ok: true },
    ]);
    assert.equal(overlay.get('n'), 2);
  });

  it('keeps a txs outcome from "refused" items and Baton items, in order', () => {
    const app = appOf({ bump });
    const overlay = laneWith().overlay();
    const results = run(app, overlay, [
      tx('bump'),
      { refused: 'body is not valid JSON' },
      {
        baton: (state) => {
          state.set('$baton/approvals/2.0.0', ['x']);
          return { ok: true, result: { approvals: 1 } };
        },
      },
      {
        baton: (state) => {
          state.set('$baton/other', 1);
          return { ok: false, error: 'duplicate_approval' };
        },
      },
    ]);
    assert.deepEqual(results, [
      { ok: true },
      { ok: false, error: 'body is not valid JSON' },
      { ok: true, result: { approvals: 1 } },
      { ok: false, error: 'duplicate_approval' },
    ]);
    assert.deepEqual(overlay.changes(), [
      ['$baton/approvals/2.0.0', ['x']],
      ['n', 1],
    ]);
  });
});

describe('AppRunner.applyAll: the time budget', () => {
  it('cuts off an endless loop, refuses it with a time-budget error, applies the next transaction, and returns within a few budgets', () => {
    const app = appOf({
      bump,
      spin: (state) => {
        state.set('during-loop', 1);
        for (;;) {
          // an app bug: never returns
        }
      },
    });
    const lane = laneWith();
    const overlay = lane.overlay();
    const started = performance.now();
    const results = run(app, overlay, [tx('bump'), tx('spin'), tx('bump')]);
    const elapsed = performance.now() - started;
    assert.deepEqual(results[0], { ok: true });
    assertRefused(results[1], /time budget of 50 ms/);
    assert.deepEqual(results[2], { ok: true });
    assert.equal(overlay.get('n'), 2);
    assert.equal(overlay.get('during-loop'), undefined, 'the cut-off transaction left nothing behind');
    // The loop gets one budget late in a slice and one alone: about two budgets in all.
    assert.ok(elapsed < 10 * BUDGET_MS, `applyAll took ${elapsed.toFixed(0)} ms`);
  });

  it('cuts off an endless loop that comes first, and one that comes last', () => {
    const spin: Step = () => {
      for (;;) {
        // never returns
      }
    };
    const app = appOf({ bump, spin });
    const overlay = laneWith().overlay();
    const started = performance.now();
    const results = run(app, overlay, [tx('spin'), tx('bump'), tx('spin')]);
    const elapsed = performance.now() - started;
    assertRefused(results[0], /time budget/);
    assert.deepEqual(results[1], { ok: true });
    assertRefused(results[2], /time budget/);
    assert.equal(overlay.get('n'), 1);
    assert.ok(elapsed < 12 * BUDGET_MS, `applyAll took ${elapsed.toFixed(0)} ms`);
  });

  it('does not refuse transactions that are slow only because they ran late in a slice', () => {
    const app = appOf({
      slow: (state) => {
        busyWait(0.4 * BUDGET_MS);
        return bump(state, undefined as unknown as TxContext);
      },
    });
    const overlay = laneWith().overlay();
    const results = run(app, overlay, [tx('slow'), tx('slow'), tx('slow'), tx('slow')]);
    assert.deepEqual(results, [{ ok: true }, { ok: true }, { ok: true }, { ok: true }]);
    assert.equal(overlay.get('n'), 4);
  });

  it('gives a transaction cut off late in a slice a full budget of its own, without applying it twice', () => {
    // The first takes 0.4 budget, so the second starts before the half-budget mark and, needing
    // 0.8 budget, is cut off by the slice's deadline: it must be retried alone, not refused.
    const app = appOf({
      short: (state) => {
        busyWait(0.4 * BUDGET_MS);
        return bump(state, undefined as unknown as TxContext);
      },
      long: (state) => {
        const n = bump(state, undefined as unknown as TxContext);
        busyWait(0.8 * BUDGET_MS);
        return n;
      },
    });
    const overlay = laneWith().overlay();
    const results = run(app, overlay, [tx('short'), tx('long'), tx('short'), tx('long')]);
    assert.deepEqual(results, [{ ok: true }, { ok: true }, { ok: true }, { ok: true }]);
    assert.equal(overlay.get('n'), 4, 'a retried transaction counts once');
  });
});

describe('AppRunner.applyAll: writes a block cannot encode refuse only their transaction', () => {
  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }
  const cycle: Record<string, unknown> = { a: 1 };
  cycle['self'] = cycle;
  const arrayCycle: unknown[] = [1];
  arrayCycle.push(arrayCycle);

  function nested(levels: number): unknown {
    let value: unknown = [];
    for (let i = 1; i < levels; i++) value = [value];
    return value;
  }

  const badValues: Array<[string, unknown]> = [
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['a fraction', 1.5],
    ['an unsafe integer', 2 ** 60],
    ['undefined', undefined],
    ['a bigint', 10n],
    ['a symbol', Symbol('s')],
    ['a function', () => 1],
    ['a function inside an object', { f: () => 1 }],
    ['a class instance', new Point(1, 2)],
    ['a Date', new Date(0)],
    ['a Map', new Map([['a', 1]])],
    ['a Uint8Array', new Uint8Array([1, 2])],
    ['an object cycle', cycle],
    ['an array cycle', arrayCycle],
    ['a string with a NUL character', 'a\u0000b'],
    ['an object key with a NUL character', { 'a\u0000b': 1 }],
    ['a value over 64 KiB', 'x'.repeat(MAX_VALUE_CHARS)],
    ['a value over 64 KiB made of many small parts', Array.from({ length: 5000 }, () => 123456789)],
    [`nesting deeper than ${MAX_DEPTH}`, nested(MAX_DEPTH + 1)],
  ];

  for (const [what, value] of badValues) {
    it(`refuses writing ${what}`, () => {
      const bad: Step = (state) => {
        state.set('first', 1); // a write that is fine, before the bad one: rolled back too
        state.set('k', value as JsonValue);
        return { ok: true };
      };
      const lane = laneWith([['k', 'before']]);
      const overlay = lane.overlay();
      const results = run(appOf({ bump, bad }), overlay, [tx('bump'), tx('bad'), tx('bump')]);
      assert.deepEqual(results[0], { ok: true });
      assertRefused(results[1]);
      assert.deepEqual(results[2], { ok: true });
      assert.equal(overlay.get('k'), 'before');
      assert.equal(overlay.get('first'), undefined);
      assert.deepEqual(overlay.changes(), [['n', 2]]);
    });
  }

  const badKeys: Array<[string, unknown]> = [
    ['an empty key', ''],
    ['a key with a NUL character', 'a\u0000b'],
    [`a key over ${MAX_KEY_LENGTH} characters`, 'k'.repeat(MAX_KEY_LENGTH + 1)],
    ['a key starting with $baton/', '$baton/approvals/2.0.0'],
    ['a key that is not a string', 5],
    ['an undefined key', undefined],
  ];
  for (const [what, key] of badKeys) {
    it(`refuses writing under ${what}`, () => {
      const app = appOf({ bump, write });
      const overlay = laneWith().overlay();
      const results = run(app, overlay, [tx('bump'), tx('write', { key, value: 1 }), tx('bump')]);
      assert.deepEqual(results[0], { ok: true });
      assertRefused(results[1]);
      assert.deepEqual(results[2], { ok: true });
      assert.deepEqual(overlay.changes(), [['n', 2]]);
    });
  }

  it('accepts the limits themselves: a 512-character key, a value of exactly 64 KiB, 64 levels, -0, null prototypes', () => {
    const app = appOf({ write });
    const overlay = laneWith().overlay();
    const longKey = 'k'.repeat(MAX_KEY_LENGTH);
    const exact = 'x'.repeat(MAX_VALUE_CHARS - 2); // its JSON text, quotes included, is 64 KiB
    const bare = Object.create(null) as Record<string, JsonValue>;
    bare['a'] = 1;
    const results = run(app, overlay, [
      tx('write', { key: longKey, value: 1 }),
      tx('write', { key: 'exact', value: exact }),
      tx('write', { key: 'deep', value: nested(MAX_DEPTH) }),
      tx('write', { key: 'safe', value: Number.MAX_SAFE_INTEGER }),
      tx('write', { key: 'bare', value: bare }),
      tx('write', { key: 'dollar', value: '$baton/ is only reserved as a key prefix' }),
      tx('write', { key: 'baton/x', value: 1 }),
    ]);
    assert.deepEqual(
      results,
      results.map(() => ({ ok: true })),
    );
    assert.equal(overlay.get(longKey), 1);
    assert.equal(overlay.get('exact'), exact);
    assert.deepEqual(overlay.get('bare'), { a: 1 });
  });

  it('drops object properties that are undefined, as JSON does', () => {
    const app = appOf({ write });
    const overlay = laneWith().overlay();
    const results = run(app, overlay, [tx('write', { value: { a: 1, b: undefined } })]);
    assert.deepEqual(results, [{ ok: true }]);
    assert.deepEqual(overlay.get('k'), { a: 1 });
    assert.equal(Object.hasOwn(overlay.get('k') as object, 'b'), false);
  });

  it('stores a copy: changing the object after the write changes nothing', () => {
    const app = appOf({
      alias: (state) => {
        const value = { list: [1, 2] };
        state.set('k', value);
        value.list.push(3);
        (value as Record<string, unknown>)['extra'] = true;
        return { ok: true };
      },
    });
    const overlay = laneWith().overlay();
    assert.deepEqual(run(app, overlay, [tx('alias')]), [{ ok: true }]);
    assert.deepEqual(overlay.get('k'), { list: [1, 2] });
    assert.ok(Object.isFrozen(overlay.get('k')));
  });

  it('stores undefined and holes inside arrays as null, as JSON does, so the hash is the one of the stored JSON', () => {
    // A hole is not undefined to Array.prototype.map: a copy that kept it would make canonicalJson
    // write "[1,,3]" (not JSON) while the block stored in PostgreSQL says [1,null,3].
    const app = appOf({
      sparse: (state) => {
        const holes: JsonValue[] = [1];
        holes[2] = 3;
        state.set('sparse', holes);
        state.set('undefined', [1, undefined, 3] as unknown as JsonValue);
        state.set('trailing', [undefined] as unknown as JsonValue);
        return { ok: true, result: [1, , 3] as JsonValue }; // eslint-disable-line no-sparse-arrays
      },
    });
    const overlay = laneWith().overlay();
    const results = run(app, overlay, [tx('sparse')]);
    assert.deepEqual(results, [{ ok: true, result: [1, null, 3] }]);
    for (const key of ['sparse', 'undefined']) {
      const stored = overlay.get(key);
      assert.deepEqual(stored, [1, null, 3], key);
      assert.equal(1 in (stored as JsonValue[]), true, `${key}: no hole left`);
      const roundTripped = JSON.parse(JSON.stringify(stored)) as JsonValue;
      assert.equal(
        canonicalJson(stored),
        canonicalJson(roundTripped),
        'the hash a leader computes must be the one a follower computes from the stored JSON',
      );
    }
    assert.deepEqual(overlay.get('trailing'), [null]);
    const result = (results[0] as { ok: true; result: JsonValue }).result;
    assert.equal(canonicalJson(result), '[1,null,3]');
  });

  it('keeps only plain values in state: an Array subclass is copied to a plain array', () => {
    class Tagged extends Array<number> {
      tag(): string {
        return 'only on the leader';
      }
    }
    const app = appOf({
      tagged: (state) => {
        state.set('k', Tagged.from([1, 2]));
        return { ok: true };
      },
    });
    const overlay = laneWith().overlay();
    assert.deepEqual(run(app, overlay, [tx('tagged')]), [{ ok: true }]);
    const stored = overlay.get('k');
    assert.equal(
      Object.getPrototypeOf(stored),
      Array.prototype,
      'a replica that loads the state from PostgreSQL sees a plain array, so the leader must too',
    );
    assert.deepEqual(stored, [1, 2]);
  });

  it('never hands a Proxy’s own idea of an array to the state', () => {
    // A Proxy of an array is an array to Array.isArray, but its constructor (and so a species
    // copy) is whatever its handler says.
    const sneaky = new Proxy([1, 2], {
      get(target, key, receiver) {
        if (key === 'constructor')
          return {
            [Symbol.species]: function () {
              return { weird: true };
            },
          };
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const app = appOf({ write });
    const overlay = laneWith().overlay();
    const results = run(app, overlay, [tx('write', { value: sneaky })]);
    if (results[0]!.ok) {
      assert.equal(Array.isArray(overlay.get('k')), true);
      assert.deepEqual(overlay.get('k'), [1, 2]);
    }
  });
});

describe('AppRunner.applyAll: what apply returns', () => {
  const returns: Array<[string, unknown]> = [
    ['undefined', undefined],
    ['null', null],
    ['true', true],
    ['a string', 'ok'],
    ['a Promise', Promise.resolve({ ok: true })],
    ['a thenable', { ok: true, then: () => undefined }],
    ['{ok: "yes"}', { ok: 'yes' }],
    ['{ok: 1}', { ok: 1 }],
    ['{}', {}],
  ];
  for (const [what, returned] of returns) {
    it(`refuses an apply that returns ${what}, rolling back its writes`, () => {
      const app = appOf({
        bump,
        odd: (state) => {
          state.set('odd', 1);
          return returned;
        },
      });
      const overlay = laneWith().overlay();
      const results = run(app, overlay, [tx('odd'), tx('bump')]);
      assertRefused(results[0], /apply must/);
      assert.deepEqual(results[1], { ok: true });
      assert.deepEqual(overlay.changes(), [['n', 1]]);
    });
  }

  it('keeps an encodable result, as a frozen copy', () => {
    const result = { balance: 5, tags: ['a'], nothing: null };
    const app = appOf({ res: () => ({ ok: true, result }) });
    const results = run(app, laneWith().overlay(), [tx('res')]);
    assert.deepEqual(results, [{ ok: true, result: { balance: 5, tags: ['a'], nothing: null } }]);
    const kept = results[0] as { ok: true; result: JsonValue };
    assert.notEqual(kept.result, result, 'a copy');
    assert.ok(Object.isFrozen(kept.result));
    result.tags.push('b');
    assert.deepEqual(kept.result, { balance: 5, tags: ['a'], nothing: null });
  });

  it('treats {ok: true, result: undefined} as no result', () => {
    const app = appOf({ res: () => ({ ok: true, result: undefined }) });
    assert.deepEqual(run(app, laneWith().overlay(), [tx('res')]), [{ ok: true }]);
  });

  for (const [what, result] of [
    ['a fraction', 0.5],
    ['a function', () => 1],
    ['a string with NUL', '\u0000'],
    ['a class instance', new Date(0)],
    ['a result over 64 KiB', 'x'.repeat(MAX_VALUE_CHARS)],
  ] as Array<[string, unknown]>) {
    it(`refuses {ok: true, result} when the result is ${what}, rolling back its writes`, () => {
      const app = appOf({
        bump,
        res: (state) => {
          state.set('n', 100);
          return { ok: true, result };
        },
      });
      const overlay = laneWith().overlay();
      const results = run(app, overlay, [tx('res'), tx('bump')]);
      assertRefused(results[0]);
      assert.deepEqual(results[1], { ok: true });
      assert.equal(overlay.get('n'), 1);
    });
  }

  it('cuts a long or NUL-laden error text down to something a block can hold', () => {
    const app = appOf({
      long: () => ({ ok: false, error: 'e'.repeat(10_000) }),
      nul: () => ({ ok: false, error: 'a\u0000b' }),
      thrownNul: () => {
        throw new Error('\u0000');
      },
    });
    const results = run(app, laneWith().overlay(), [tx('long'), tx('nul'), tx('thrownNul')]);
    for (const r of results) {
      assertRefused(r);
      if (!r.ok) {
        assert.ok(r.error.length > 0 && r.error.length <= 200, `error text of ${r.error.length} characters`);
        assert.equal(r.error.includes('\u0000'), false);
      }
    }
  });
});

describe('AppRunner.applyAll: state as apply sees it', () => {
  it('hands out frozen values: mutating one throws inside apply, which is refused, and the base is unchanged', () => {
    const lane = laneWith([
      ['obj', { a: 1, nested: { list: [1, 2] } }],
      ['arr', [1, 2]],
    ]);
    const app = appOf({
      mutateObj: (state) => {
        (state.get('obj') as Record<string, JsonValue>)['a'] = 2;
        return { ok: true };
      },
      mutateNested: (state) => {
        (state.get('obj') as { nested: { list: number[] } }).nested.list.push(3);
        return { ok: true };
      },
      mutateArr: (state) => {
        (state.get('arr') as number[])[0] = 9;
        return { ok: true };
      },
      bump,
    });
    const overlay = lane.overlay();
    const results = run(app, overlay, [tx('mutateObj'), tx('mutateNested'), tx('mutateArr'), tx('bump')]);
    assertRefused(results[0]);
    assertRefused(results[1]);
    assertRefused(results[2]);
    assert.deepEqual(results[3], { ok: true });
    assert.deepEqual(lane.get('obj'), { a: 1, nested: { list: [1, 2] } });
    assert.deepEqual(lane.get('arr'), [1, 2]);
    assert.deepEqual(overlay.changes(), [['n', 1]]);
  });

  it('hands out frozen values written earlier in the same block too', () => {
    const app = appOf({
      write,
      mutate: (state) => {
        (state.get('k') as Record<string, JsonValue>)['x'] = 2;
        return { ok: true };
      },
    });
    const overlay = laneWith().overlay();
    const results = run(app, overlay, [tx('write', { value: { x: 1 } }), tx('mutate')]);
    assert.deepEqual(results[0], { ok: true });
    assertRefused(results[1]);
    assert.deepEqual(overlay.get('k'), { x: 1 });
  });

  it('passes the transaction context through unchanged', () => {
    const seen: TxContext[] = [];
    const app = appOf({
      see: (_state, t) => {
        seen.push(t);
        return { ok: true };
      },
    });
    const item = tx('see', { amount: 3 });
    run(app, laneWith().overlay(), [item]);
    assert.deepEqual(seen, ['tx' in item ? item.tx : null]);
  });
});

describe('AppRunner.query', () => {
  const app = appOf(
    {},
    {
      get: (state, args) => state.get((args as { key: string }).key) ?? null,
      echo: (_state, args) => args as JsonValue,
      boom: () => {
        throw new Error('query failed on purpose');
      },
      spin: () => {
        for (;;) {
          // never returns
        }
      },
      fraction: () => 0.5,
      fn: () => (() => 1) as unknown as JsonValue,
      writes: (state) => {
        (state as unknown as AppState).set('k', 1);
        return 1;
      },
    },
  );
  const lane = laneWith([['k', { a: [1, 2] }]]);

  function queryError(fn: () => unknown, kind: QueryError['kind'], pattern?: RegExp): void {
    assert.throws(fn, (error: unknown) => {
      assert.ok(error instanceof QueryError, `a QueryError, got ${String(error)}`);
      assert.equal(error.kind, kind);
      if (pattern) assert.match(error.message, pattern);
      return true;
    });
  }

  it('answers a named query over the state with its args, as a frozen copy', () => {
    const runner = new AppRunner(BUDGET_MS);
    const answer = runner.query(app, 'get', lane, { key: 'k' });
    assert.deepEqual(answer, { a: [1, 2] });
    assert.ok(Object.isFrozen(answer));
    assert.deepEqual(runner.query(app, 'echo', lane, [1, 'two', null]), [1, 'two', null]);
    assert.equal(runner.query(app, 'get', lane, { key: 'missing' }), null);
  });

  it('reads through an overlay too', () => {
    const overlay = lane.overlay();
    overlay.set('k', 7);
    assert.equal(new AppRunner(BUDGET_MS).query(app, 'get', overlay, { key: 'k' }), 7);
  });

  it('calls an unknown name unknown, and so every name the queries object only inherits', () => {
    const runner = new AppRunner(BUDGET_MS);
    for (const name of [
      'nope',
      'toString',
      '__proto__',
      'constructor',
      'hasOwnProperty',
      'valueOf',
      '__defineGetter__',
      '',
    ])
      queryError(() => runner.query(app, name, lane, null), 'unknown');
    queryError(() => runner.query(appOf({}), 'get', lane, null), 'unknown', /no query "get"/);
  });

  it('answers a query that is an own property even when its name is also inherited', () => {
    const own = appOf({}, { toString: () => 'mine' });
    assert.equal(new AppRunner(BUDGET_MS).query(own, 'toString', lane, null), 'mine');
  });

  it('reports a throwing query as failed, with its message', () => {
    queryError(() => new AppRunner(BUDGET_MS).query(app, 'boom', lane, null), 'failed', /on purpose/);
  });

  it('reports a query that throws an Error whose message is not a string as failed', () => {
    const odd = appOf(
      {},
      {
        odd: () => {
          const error = new Error('x');
          (error as unknown as { message: unknown }).message = { not: 'a string' };
          throw error;
        },
      },
    );
    queryError(() => new AppRunner(BUDGET_MS).query(odd, 'odd', lane, null), 'failed');
  });

  it('reports a query that cannot write as failed', () => {
    queryError(() => new AppRunner(BUDGET_MS).query(app, 'writes', lane, null), 'failed');
    assert.deepEqual(lane.get('k'), { a: [1, 2] });
  });

  it('cuts off an endless query after its budget', () => {
    const runner = new AppRunner(BUDGET_MS);
    const started = performance.now();
    queryError(() => runner.query(app, 'spin', lane, null), 'timeout', /time budget of 50 ms/);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 6 * BUDGET_MS, `the query took ${elapsed.toFixed(0)} ms`);
    // The runner still works afterwards.
    assert.deepEqual(runner.query(app, 'echo', lane, 1), 1);
  });

  it('reports a result JSON cannot encode as failed', () => {
    const runner = new AppRunner(BUDGET_MS);
    queryError(() => runner.query(app, 'fraction', lane, null), 'failed', /safe integers/);
    queryError(() => runner.query(app, 'fn', lane, null), 'failed');
  });

  it('shares the runner between applyAll and query without one disturbing the other', () => {
    const runner = new AppRunner(BUDGET_MS);
    const both = appOf({ bump }, { n: (state) => state.get('n') ?? 0 });
    const overlay = laneWith().overlay();
    assert.deepEqual(runner.applyAll(both, overlay, [tx('bump'), tx('bump')]), [{ ok: true }, { ok: true }]);
    assert.equal(runner.query(both, 'n', overlay, null), 2);
    assert.deepEqual(runner.applyAll(both, overlay, [tx('bump')]), [{ ok: true }]);
    assert.equal(runner.query(both, 'n', overlay, null), 3);
  });
});
