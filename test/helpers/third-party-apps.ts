import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// App modules as a user's project would write them: plain ESM files outside this repository,
// loaded by path with --app, sharing nothing with Baton's sources.

/** notes 1.0.0: `put {key, text}` stores a note; queries `get {key}` and `count`. Also poison kinds. */
const NOTES_V1 = `
const KEY = /^[a-z0-9-]{1,32}$/;
function check(kind, args) {
  if (kind === 'put') {
    if (!args || typeof args.key !== 'string' || !KEY.test(args.key) || typeof args.text !== 'string')
      throw new Error('put takes {key: a-z0-9- (1..32), text: string}');
    return;
  }
  if (kind === 'poison') {
    if (!args || typeof args.how !== 'string') throw new Error('poison takes {how}');
    return;
  }
  const error = new Error('notes has no kind ' + kind);
  error.code = 'unknown_kind';
  throw error;
}
function poison(state, how) {
  state.set('poisoned', true); // must be rolled back whatever happens next
  if (how === 'throw') throw new Error('boom');
  if (how === 'loop') for (;;) {}
  if (how === 'nan') state.set('bad', NaN);
  if (how === 'fraction') state.set('bad', 0.5);
  if (how === 'cycle') { const a = {}; a.self = a; state.set('bad', a); }
  if (how === 'huge') state.set('bad', 'x'.repeat(200000));
  if (how === 'nul') state.set('bad', 'a\\u0000b');
  if (how === 'promise') return Promise.resolve({ ok: true });
  if (how === 'garbage') return 42;
  return { ok: true };
}
export const notesV1 = {
  name: 'notes',
  version: '1.0.0',
  validate: check,
  apply(state, tx) {
    if (tx.kind === 'poison') return poison(state, tx.args.how);
    const previous = state.get('note:' + tx.args.key);
    if (previous === undefined) state.set('count', (state.get('count') ?? 0) + 1);
    state.set('note:' + tx.args.key, { text: tx.args.text, by: tx.from, at: tx.height });
    return { ok: true, result: { key: tx.args.key, height: tx.height } };
  },
  queries: {
    get: (state, args) => state.get('note:' + args.key) ?? null,
    count: (state) => state.get('count') ?? 0,
  },
};
/** dice 1.0.0: \`roll {}\` writes Math.random(): not deterministic, on purpose. */
export const dice = {
  name: 'dice',
  version: '1.0.0',
  validate(kind) {
    if (kind !== 'roll') throw Object.assign(new Error('dice only rolls'), { code: 'unknown_kind' });
  },
  apply(state) {
    state.set('last', Math.floor(Math.random() * 1e9));
    return { ok: true };
  },
};
export default [notesV1, dice];
`;

/** notes 2.0.0: the same kinds, and every note records the version that wrote it. */
const NOTES_V2 = `
import { notesV1 } from './notes-v1.mjs';
export default {
  ...notesV1,
  version: '2.0.0',
  apply(state, tx) {
    const outcome = notesV1.apply(state, tx);
    if (outcome && outcome.ok && tx.kind === 'put') {
      state.set('note:' + tx.args.key, { ...state.get('note:' + tx.args.key), v: 2 });
    }
    return outcome;
  },
};
`;

export interface ThirdPartyApps {
  /** notes 1.0.0 and dice 1.0.0 (one module, an array default export). */
  v1: string;
  /** notes 2.0.0. */
  v2: string;
  remove(): Promise<void>;
}

/** Writes the app modules to a temporary directory, as files of someone else's project. */
export async function writeThirdPartyApps(): Promise<ThirdPartyApps> {
  const dir = await mkdtemp(join(tmpdir(), 'baton-user-apps-'));
  const v1 = join(dir, 'notes-v1.mjs');
  const v2 = join(dir, 'notes-v2.mjs');
  await writeFile(v1, NOTES_V1);
  await writeFile(v2, NOTES_V2);
  return { v1, v2, remove: () => rm(dir, { recursive: true, force: true }) };
}
