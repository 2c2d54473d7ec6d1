import { fileURLToPath } from 'node:url';
import type { Intent } from './keys.js';

/**
 * The app the app sections run: the example package `examples/name-registry` (app `names`),
 * loaded by the replicas by path with `--app`, as a user's project ships it.
 */
export const NAMES_APP = 'names';
export const NAMES_V1 = '1.0.0';
export const NAMES_V2 = '2.0.0';

/** Absolute paths of the example's modules, from the repository root (this file is dist/bench/). */
const example = (file: string): string =>
  fileURLToPath(new URL(`../../examples/name-registry/${file}`, import.meta.url));
export const NAMES_V1_PATH = example('v1.js');
export const NAMES_V2_PATH = example('v2.js');

/** Where the app's modules come from, in words, for the rows. */
export const NAMES_SOURCE = 'examples/name-registry';

/** The names app's `register {name}` (a name: 1..32 characters of a-z, 0-9, -). */
export const registerIntent = (name: string): Intent => ({ kind: 'register', args: { name } });

/** `--app PATH` for each module path. */
export const appArgs = (paths: readonly string[]): string[] => paths.flatMap((p) => ['--app', p]);
