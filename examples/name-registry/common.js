// What both versions of the names app share: argument parsing, state keys, the counter.
// Plain JavaScript with JSDoc types (checked by `npx tsc -p examples/name-registry`); the only
// thing it takes from `baton` is types, so it runs wherever Baton loads it.

/** @typedef {import('baton').App} App */
/** @typedef {import('baton').AppState} AppState */
/** @typedef {Parameters<App['apply']>[1]} TxContext */
/** @typedef {Pick<AppState, 'get'>} ReadState */

/** A name: 1 to 32 characters of a-z, 0-9 and '-'. */
export const NAME = /^[a-z0-9-]{1,32}$/;
/** An account: a raw ed25519 public key as 64 hex digits (what `tx.from` holds). */
export const HEX32 = /^[0-9a-fA-F]{64}$/;
/** The key of the number of registered names. */
export const COUNT_KEY = 'count';

/** The state key of a name's record. */
export function nameKey(/** @type {string} */ name) {
  return `name:${name}`;
}

/** An error that refuses a submission as `unknown_kind` (any other error refuses it as `bad_args`). */
export function unknownKind(/** @type {string} */ app, /** @type {string} */ kind) {
  const error = new Error(`the ${app} app has no kind ${JSON.stringify(kind).slice(0, 80)}`);
  return Object.assign(error, { code: 'unknown_kind' });
}

/**
 * Whether `args` is a plain object with exactly `keys`.
 * @param {unknown} args
 * @param {readonly string[]} keys
 * @returns {args is Record<string, unknown>}
 */
export function exactKeys(args, keys) {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return false;
  const present = Object.keys(args);
  return present.length === keys.length && keys.every((k) => Object.hasOwn(args, k));
}

/**
 * `{name}`, checked.
 * @param {string} kind what the arguments are for, named in the error
 * @param {unknown} args
 * @returns {{ name: string }}
 */
export function parseName(kind, args) {
  if (!exactKeys(args, ['name']) || typeof args.name !== 'string' || !NAME.test(args.name))
    throw new Error(`${kind} takes {"name": 1..32 characters of a-z, 0-9, -}`);
  return { name: args.name };
}

/**
 * `{name, to}`, checked; `to` lower-cased.
 * @param {unknown} args
 * @returns {{ name: string, to: string }}
 */
export function parseTransfer(args) {
  if (
    !exactKeys(args, ['name', 'to']) ||
    typeof args.name !== 'string' ||
    !NAME.test(args.name) ||
    typeof args.to !== 'string' ||
    !HEX32.test(args.to)
  )
    throw new Error('transfer takes {"name": 1..32 characters of a-z, 0-9, -, "to": HEX32}');
  return { name: args.name, to: args.to.toLowerCase() };
}

/** The number of registered names. */
export function count(/** @type {ReadState} */ state) {
  const value = state.get(COUNT_KEY);
  return typeof value === 'number' ? value : 0;
}

/** Adds `delta` to the number of registered names. */
export function addToCount(/** @type {AppState} */ state, /** @type {number} */ delta) {
  state.set(COUNT_KEY, count(state) + delta);
}

/**
 * A name's record as stored under `name:<name>`. v1 writes `{owner, since}`; v2 adds `expires`,
 * the last height at which the registration holds (a record without it never expires).
 * @typedef {{ owner: string, since: number, expires?: number }} NameRecord
 */

/**
 * The record of `name`, or null when the name was never registered or was released.
 * @param {ReadState} state
 * @param {string} name
 * @returns {Readonly<NameRecord> | null}
 */
export function readRecord(state, name) {
  const value = state.get(nameKey(name));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  return /** @type {NameRecord} */ (/** @type {unknown} */ (value));
}
