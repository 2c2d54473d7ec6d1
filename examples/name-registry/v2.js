// The names app, version 2.0.0: version 1.0.0 plus expiry. A registration holds for TERM blocks
// and the owner renews it; once expired, anyone may register the name.
//
// kinds   register {name}       as in v1, and the registration holds through height
//                               `tx.height + TERM` (refused "taken" while a registration holds)
//         renew    {name}       the owner extends the registration to `tx.height + TERM`
//         transfer {name, to}   as in v1; the expiry stays
//         release  {name}       as in v1
//         (transfer, release and renew of an expired name are refused "expired")
// queries owner {name}          the owner, or null when unregistered or expired as of the newest
//                               height this app has applied a transaction at (queries get no
//                               height of their own; see `height` below)
//         record {name}         {owner, since, expires} (expires null: never), or null: the raw
//                               record, for a client to compare with the `height` of the answer
//         count                 as in v1: records held, including expired ones not taken again
// state   name:<name> → {owner, since, expires}, count → as in v1,
//         height → the newest block height at which a transaction of this app was applied
//
// Records written by v1 have no `expires`: v2 reads them as never expiring (renew leaves them so).
import { addToCount, count, nameKey, parseName, parseTransfer, readRecord, unknownKind } from './common.js';

/** @typedef {import('baton').App} App */
/** @typedef {import('baton').AppState} AppState */
/** @typedef {import('./common.js').ReadState} ReadState */
/** @typedef {import('./common.js').NameRecord} NameRecord */

/** How many blocks a registration or a renewal holds for. */
export const TERM = 1000;
/** The key of the newest height at which v2 applied a transaction. */
export const HEIGHT_KEY = 'height';

/** Whether `record` still holds at `height` (v1 records, without `expires`, always do). */
export function holds(/** @type {Readonly<NameRecord>} */ record, /** @type {number} */ height) {
  return record.expires === undefined || height <= record.expires;
}

/** The newest height at which v2 applied a transaction (0 before the first). */
function latestHeight(/** @type {ReadState} */ state) {
  const value = state.get(HEIGHT_KEY);
  return typeof value === 'number' ? value : 0;
}

/**
 * The record of `name` when `from` owns it at `height`, else the refusal.
 * @param {AppState} state
 * @param {string} name
 * @param {string} from
 * @param {number} height
 * @returns {{ record: Readonly<NameRecord> } | { ok: false, error: string }}
 */
function ownedRecord(state, name, from, height) {
  const record = readRecord(state, name);
  if (!record) return { ok: false, error: 'not_registered' };
  if (!holds(record, height)) return { ok: false, error: 'expired' };
  if (record.owner !== from) return { ok: false, error: 'not_owner' };
  return { record };
}

/** @type {App} */
const v2 = {
  name: 'names',
  version: '2.0.0',

  validate(kind, args) {
    if (kind === 'register' || kind === 'release' || kind === 'renew') parseName(kind, args);
    else if (kind === 'transfer') parseTransfer(args);
    else throw unknownKind('names', kind);
  },

  apply(state, tx) {
    const from = tx.from.toLowerCase();
    // Rolled back with everything else when the transaction is refused.
    if (tx.height > latestHeight(state)) state.set(HEIGHT_KEY, tx.height);
    if (tx.kind === 'register') {
      const { name } = parseName(tx.kind, tx.args);
      const previous = readRecord(state, name);
      if (previous && holds(previous, tx.height)) return { ok: false, error: 'taken' };
      const expires = tx.height + TERM;
      state.set(nameKey(name), { owner: from, since: tx.height, expires });
      if (!previous) addToCount(state, 1); // an expired record is replaced: the count stays
      return { ok: true, result: { expires } };
    }
    if (tx.kind === 'renew') {
      const { name } = parseName(tx.kind, tx.args);
      const owned = ownedRecord(state, name, from, tx.height);
      if (!('record' in owned)) return owned;
      const { record } = owned;
      if (record.expires === undefined) return { ok: true, result: { expires: null } };
      const expires = Math.max(record.expires, tx.height + TERM);
      state.set(nameKey(name), { ...record, expires });
      return { ok: true, result: { expires } };
    }
    if (tx.kind === 'transfer') {
      const { name, to } = parseTransfer(tx.args);
      const owned = ownedRecord(state, name, from, tx.height);
      if (!('record' in owned)) return owned;
      if (to !== from) state.set(nameKey(name), { ...owned.record, owner: to, since: tx.height });
      return { ok: true };
    }
    if (tx.kind === 'release') {
      const { name } = parseName(tx.kind, tx.args);
      const owned = ownedRecord(state, name, from, tx.height);
      if (!('record' in owned)) return owned;
      state.set(nameKey(name), null);
      addToCount(state, -1);
      return { ok: true };
    }
    return { ok: false, error: 'unknown_kind' };
  },

  queries: {
    owner(state, args) {
      const { name } = parseName('owner', args);
      const record = readRecord(state, name);
      return record && holds(record, latestHeight(state)) ? record.owner : null;
    },
    record(state, args) {
      const { name } = parseName('record', args);
      const record = readRecord(state, name);
      if (!record) return null;
      return { owner: record.owner, since: record.since, expires: record.expires ?? null };
    },
    count(state) {
      return count(state);
    },
  },
};

export default v2;
export { v2 };
