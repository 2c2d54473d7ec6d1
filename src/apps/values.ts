import type { JsonValue } from './app.js';

/** Longest state key, in characters. */
export const MAX_KEY_LENGTH = 512;
/** Largest state value or transaction result, in characters of its JSON text. */
export const MAX_VALUE_CHARS = 64 * 1024;
/** Deepest nesting of arrays and objects in a value. */
export const MAX_DEPTH = 64;
/** State keys under this prefix are Baton's own (upgrade approvals): apps cannot write them. */
export const RESERVED_KEY_PREFIX = '$baton/';

/** A value or key an app produced that a block cannot hold. Refuses the transaction. */
export class AppValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppValueError';
  }
}

export function checkKey(key: unknown, internal = false): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH)
    throw new AppValueError(`a state key must be a string of 1..${MAX_KEY_LENGTH} characters`);
  if (key.includes('\u0000')) throw new AppValueError('a state key must not contain NUL characters');
  if (!internal && key.startsWith(RESERVED_KEY_PREFIX))
    throw new AppValueError(`state keys starting with ${RESERVED_KEY_PREFIX} are reserved`);
  return key;
}

/**
 * A frozen copy of `value` when a block can encode it: plain objects and arrays, strings without
 * NUL characters, booleans, null and safe integers, at most MAX_DEPTH deep and MAX_VALUE_CHARS
 * long. Anything else (NaN, fractions, undefined, functions, class instances, cycles, huge values)
 * throws an AppValueError.
 */
export function encodableCopy(value: unknown, what = 'value'): JsonValue {
  let budget = MAX_VALUE_CHARS;
  const spend = (chars: number): void => {
    budget -= chars;
    if (budget < 0) throw new AppValueError(`the ${what} is larger than ${MAX_VALUE_CHARS} characters`);
  };
  const copy = (v: unknown, depth: number): JsonValue => {
    if (v === null) return (spend(4), null);
    switch (typeof v) {
      case 'boolean':
        return (spend(5), v);
      case 'number':
        if (!Number.isSafeInteger(v))
          throw new AppValueError(`the ${what} holds ${String(v)}: only safe integers can be stored`);
        return (spend(16), v);
      case 'string':
        if (v.includes('\u0000')) throw new AppValueError(`the ${what} holds a string with a NUL character`);
        return (spend(v.length + 2), v);
      case 'object': {
        if (depth >= MAX_DEPTH) throw new AppValueError(`the ${what} is nested deeper than ${MAX_DEPTH}`);
        spend(2);
        if (Array.isArray(v)) {
          // A plain array whatever the subclass; holes and undefined become null, as in JSON.
          const items: JsonValue[] = [];
          for (let i = 0; i < v.length; i++) {
            const item: unknown = (v as unknown[])[i];
            items.push(item === undefined ? (spend(4), null) : copy(item, depth + 1));
          }
          return Object.freeze(items) as JsonValue;
        }
        const proto = Object.getPrototypeOf(v) as unknown;
        if (proto !== Object.prototype && proto !== null)
          throw new AppValueError(`the ${what} holds an object that is not plain JSON`);
        const out: Record<string, JsonValue> = {};
        for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
          if (item === undefined) continue;
          if (k.includes('\u0000')) throw new AppValueError(`the ${what} holds a key with a NUL character`);
          spend(k.length + 3);
          out[k] = copy(item, depth + 1);
        }
        return Object.freeze(out);
      }
      default:
        throw new AppValueError(`the ${what} holds a ${typeof v}, which JSON cannot encode`);
    }
  };
  return copy(value, 0);
}

/** Freezes a value read from the database in place (values apps read must not be changed behind the state's back). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
