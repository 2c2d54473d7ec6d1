import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { reportBody, type BenchResults } from './report.js';
import type { Row } from './row.js';

export const README_START = '<!-- bench:start -->';
export const README_END = '<!-- bench:end -->';

/**
 * Replaces the block between README_START and README_END in README.md with this run's table, date
 * and machine, then formats the file with the project's Prettier settings (so `npm run lint` stays
 * clean). Returns the path written.
 */
export async function writeReadme(r: BenchResults, rows: Row[]): Promise<string> {
  const path = fileURLToPath(new URL('../../README.md', import.meta.url));
  const text = await readFile(path, 'utf8');
  const start = text.indexOf(README_START);
  const end = text.indexOf(README_END);
  if (start < 0 || end < start) {
    throw new Error(`README.md has no block between ${README_START} and ${README_END}`);
  }
  const date = r.date.replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');
  const block = [
    README_START,
    '',
    `Latest run: ${date}, written by \`npm run bench -- --write-readme\`. ` +
      'What each figure measures and how: [docs/benchmarks.md](docs/benchmarks.md).',
    '',
    reportBody(r, rows),
    '',
    README_END,
  ].join('\n');
  const next = text.slice(0, start) + block + text.slice(end + README_END.length);
  const config = (await prettier.resolveConfig(path)) ?? {};
  await writeFile(path, await prettier.format(next, { ...config, filepath: path }));
  return path;
}
