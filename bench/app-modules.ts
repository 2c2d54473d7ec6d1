import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchEnv } from './env.js';
import type { Intent } from './keys.js';

/** The name of the bench's own user app: a small key-value "notes" app, not the built-in token. */
export const NOTES_APP = 'notes';

/** The notes app's `put {key, text}`. */
export const putIntent = (key: string, text: string): Intent => ({ kind: 'put', args: { key, text } });

/** The n-th version of the notes app (1 → "1.0.0"). */
export const notesVersion = (n: number): string => `${n}.0.0`;

/**
 * One version of the notes app as a user's project would write it: a plain ESM file outside the
 * repository, loaded by path with `--app`, sharing nothing with Baton's sources. `put {key, text}`
 * writes the note and bumps a counter (two writes per transaction, one of them to a key every
 * transaction touches, as the token's faucet writes a balance and the supply). Each version
 * records its major number in the notes it writes, so the versions really run different code.
 */
function notesModule(major: number): string {
  return `// notes ${notesVersion(major)}: written by the Baton benchmark (bench/app-modules.ts)
const KEY = /^[a-z0-9-]{1,40}$/;
export default {
  name: '${NOTES_APP}',
  version: '${notesVersion(major)}',
  validate(kind, args) {
    if (kind !== 'put') {
      const error = new Error('notes has no kind ' + kind);
      error.code = 'unknown_kind';
      throw error;
    }
    if (!args || typeof args.key !== 'string' || !KEY.test(args.key) ||
        typeof args.text !== 'string' || args.text.length > 200)
      throw new Error('put takes {key: a-z0-9- (1..40), text: a string of at most 200}');
  },
  apply(state, tx) {
    state.set('count', (state.get('count') ?? 0) + 1);
    state.set('note:' + tx.args.key, { text: tx.args.text, at: tx.height, v: ${major} });
    return { ok: true };
  },
  queries: {
    get: (state, args) => state.get('note:' + args.key) ?? null,
    count: (state) => state.get('count') ?? 0,
  },
};
`;
}

/**
 * Writes versions 1.0.0 … `count`.0.0 of the notes app, one module file each, into the folder
 * `apps` of a new scenario directory named `scenario`; returns their paths, index i holding
 * version i + 1.
 */
export async function writeNotesVersions(env: BenchEnv, scenario: string, count: number): Promise<string[]> {
  const dir = join(await env.scenarioDir(scenario), 'apps');
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let major = 1; major <= count; major++) {
    const path = join(dir, `notes-${notesVersion(major)}.mjs`);
    await writeFile(path, notesModule(major));
    paths.push(path);
  }
  return paths;
}

/** `--app PATH` for each module path. */
export const appArgs = (paths: readonly string[]): string[] => paths.flatMap((p) => ['--app', p]);
