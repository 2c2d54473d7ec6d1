// The names app, version 1.0.0: a registry of names, each owned by the account that registered it.
//
// kinds   register {name}       the signer owns `name` from this block on (refused: "taken")
//         transfer {name, to}   the owner gives `name` to the account `to` (HEX32)
//         release  {name}       the owner gives `name` up; anyone may register it again
// queries owner {name}          the owner's public key (hex), or null
//         count                 how many names are registered
// state   name:<name> → {owner, since} (since: the height from which `owner` holds it; null
//         once released), count → the number of registered names
import { addToCount, count, nameKey, parseName, parseTransfer, readRecord, unknownKind } from './common.js';

/** @typedef {import('baton').App} App */
/** @typedef {import('baton').AppState} AppState */

/**
 * Whether `tx.from` owns the registered `name`: null when it does, else the refusal.
 * @param {AppState} state
 * @param {string} name
 * @param {string} from
 * @returns {{ ok: false, error: string } | null}
 */
function refuseUnlessOwner(state, name, from) {
  const record = readRecord(state, name);
  if (!record) return { ok: false, error: 'not_registered' };
  if (record.owner !== from) return { ok: false, error: 'not_owner' };
  return null;
}

/** @type {App} */
const v1 = {
  name: 'names',
  version: '1.0.0',

  validate(kind, args) {
    if (kind === 'register' || kind === 'release') parseName(kind, args);
    else if (kind === 'transfer') parseTransfer(args);
    else throw unknownKind('names', kind);
  },

  apply(state, tx) {
    const from = tx.from.toLowerCase();
    if (tx.kind === 'register') {
      const { name } = parseName(tx.kind, tx.args);
      if (readRecord(state, name)) return { ok: false, error: 'taken' };
      state.set(nameKey(name), { owner: from, since: tx.height });
      addToCount(state, 1);
      return { ok: true };
    }
    if (tx.kind === 'transfer') {
      const { name, to } = parseTransfer(tx.args);
      const refused = refuseUnlessOwner(state, name, from);
      if (refused) return refused;
      if (to !== from) state.set(nameKey(name), { owner: to, since: tx.height });
      return { ok: true };
    }
    if (tx.kind === 'release') {
      const { name } = parseName(tx.kind, tx.args);
      const refused = refuseUnlessOwner(state, name, from);
      if (refused) return refused;
      state.set(nameKey(name), null);
      addToCount(state, -1);
      return { ok: true };
    }
    return { ok: false, error: 'unknown_kind' };
  },

  queries: {
    owner(state, args) {
      const { name } = parseName('owner', args);
      return readRecord(state, name)?.owner ?? null;
    },
    count(state) {
      return count(state);
    },
  },
};

export default v1;
export { v1 };
