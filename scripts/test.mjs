#!/usr/bin/env node
// `npm test`: everything a fresh Debian machine needs, then the test suites.
// 1. the Debian packages the tests run (scripts/system-deps.mjs), installed when missing;
// 2. the npm dependencies (`npm ci`) when node_modules is missing;
// 3. the build; 4. every test file with node's test runner, one file at a time (files start
//    real PostgreSQL servers and replica processes; two cores do not fit more): test/<suite>/*.test.ts,
//    and for the suite "examples" the example apps' own tests, examples/*/test/*.test.js.
// Usage: node scripts/test.mjs [unit|integration|e2e|examples ...] (default: all, in that order)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { ensureSystemPackages } from './system-deps.mjs';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function step(args) {
  const result = spawnSync(npm, args, { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`npm ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
}

if (!ensureSystemPackages()) process.exit(1);
if (!existsSync(join('node_modules', '.package-lock.json'))) {
  console.log('== npm ci (node_modules is missing)');
  step(['ci', '--no-audit', '--no-fund']);
}
step(['run', '--silent', 'build']);

/**
 * An example app is a package of its own that depends on "baton": "file:../.." (so its files
 * import `baton` and `baton/client` as a user's project does; the repository root's own name
 * does not reach them, their package.json ends its scope). Instead of an `npm install` in each,
 * this links examples/<name>/node_modules/baton to the repository root, which is what that
 * install would do for a file: dependency. node_modules/ is git-ignored, so a fresh clone gets
 * the link on its first `npm test`.
 */
function linkExamples() {
  for (const name of readdirSync('examples').sort()) {
    const manifest = join('examples', name, 'package.json');
    if (!existsSync(manifest)) continue;
    if (!JSON.parse(readFileSync(manifest, 'utf8')).dependencies?.baton) continue;
    const link = join('examples', name, 'node_modules', 'baton');
    if (existsSync(join(link, 'package.json'))) continue; // linked or installed already
    mkdirSync(dirname(link), { recursive: true });
    rmSync(link, { force: true }); // a dangling link
    symlinkSync(relative(dirname(link), '.'), link, 'junction');
  }
}

function suiteFiles(suite) {
  if (suite !== 'examples')
    return readdirSync(join('test', suite))
      .filter((f) => f.endsWith('.test.ts'))
      .sort()
      .map((f) => join('test', suite, f));
  if (!existsSync('examples')) return [];
  linkExamples();
  return readdirSync('examples')
    .sort()
    .flatMap((name) => {
      const dir = join('examples', name, 'test');
      if (!existsSync(dir)) return [];
      return readdirSync(dir)
        .filter((f) => f.endsWith('.test.js'))
        .sort()
        .map((f) => join(dir, f));
    });
}

const suites =
  process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['unit', 'integration', 'e2e', 'examples'];
const files = suites.flatMap(suiteFiles);
if (files.length === 0) {
  console.error(`no test files in ${suites.join(', ')}`);
  process.exit(1);
}
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
