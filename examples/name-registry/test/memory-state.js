// A lane's state in memory for unit tests, with what Baton does around `apply`: values must be
// JSON that a block can hold (plain objects, safe integers, no NUL), what `get` returns is frozen,
// and a refused transaction (ok: false, or apply threw) leaves the state as it was.
// (node --test also runs this file when given the test/ directory; it has no tests.)
import { createHash } from 'node:crypto';

/** @typedef {import('baton').App} App */
/** @typedef {import('baton').AppState} AppState */
/** @typedef {import('../common.js').TxContext} TxContext */
/** @typedef {ReturnType<AppState['get']>} Value */

/**
 * Throws unless `value` is what a block can hold; returns a frozen copy.
 * @param {unknown} value
 * @returns {Value}
 */
function checked(value) {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`only safe integers can be stored, not ${value}`);
    return value;
  }
  if (typeof value === 'string') {
    if (value.includes('\u0000')) throw new Error('a stored string holds a NUL character');
    return value;
  }
  if (Array.isArray(value))
    return /** @type {Value} */ (/** @type {unknown} */ (Object.freeze(value.map(checked))));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    /** @type {Record<string, Value>} */
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) throw new Error(`a stored object holds undefined under ${k}`);
      if (k.includes('\u0000')) throw new Error('a stored object holds a key with a NUL character');
      out[k] = checked(v);
    }
    return /** @type {Value} */ (/** @type {unknown} */ (Object.freeze(out)));
  }
  throw new Error(`a ${typeof value} cannot be stored`);
}

/** A Map-backed AppState that logs every write. */
export class MemoryState {
  /** @type {Map<string, Value>} */
  values = new Map();
  /** Every write in order, as [key, value]. @type {Array<[string, Value]>} */
  writes = [];

  /** @param {string} key */
  get(key) {
    return this.values.get(key);
  }

  /** @param {string} key @param {unknown} value */
  set(key, value) {
    if (typeof key !== 'string' || key.length === 0 || key.includes('\u0000')) throw new Error('bad key');
    const copy = checked(value);
    this.values.set(key, copy);
    this.writes.push([key, copy]);
  }

  /**
   * Applies one transaction the way a lane does: a refusal (or a throw) rolls its writes back.
   * @param {App} app
   * @param {TxContext} tx
   * @returns {ReturnType<App['apply']>}
   */
  apply(app, tx) {
    const before = new Map(this.values);
    const logged = this.writes.length;
    /** @type {ReturnType<App['apply']>} */
    let result;
    try {
      result = app.apply(this, tx);
    } catch (error) {
      result = { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    if (!result.ok) {
      this.values = before;
      this.writes.length = logged;
    }
    return result;
  }

  /**
   * Runs a query the way the query route does.
   * @param {App} app
   * @param {string} name
   * @param {unknown} [args]
   */
  query(app, name, args = null) {
    const query = app.queries?.[name];
    if (!query) throw new Error(`no query ${name}`);
    return query({ get: (key) => this.get(key) }, args);
  }
}

/** Three accounts (ed25519 public keys are 32 bytes; only their hex form matters here). */
export const ALICE = 'a1'.repeat(32);
export const BOB = 'b0'.repeat(32);
export const CAROL = 'c0'.repeat(32);

let nonce = 0;

/**
 * A transaction as `apply` sees it; the block time follows from the height (one block a second).
 * @param {string} from
 * @param {string} kind
 * @param {unknown} args
 * @param {number} height
 * @returns {TxContext}
 */
export function tx(from, kind, args, height) {
  const body = JSON.stringify({ from, kind, args, nonce: nonce++ });
  return {
    id: createHash('sha256').update(body).digest('hex'),
    from,
    kind,
    args,
    height,
    time: new Date(Date.UTC(2025, 0, 1) + height * 1000).toISOString(),
  };
}
