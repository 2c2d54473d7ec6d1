#!/usr/bin/env node
// `npm test`: everything a fresh Debian machine needs, then the test suites.
// 1. the Debian packages the tests run (scripts/system-deps.mjs), installed when missing;
// 2. the npm dependencies (`npm ci`) when node_modules is missing;
// 3. the build; 4. every test file with node's test runner, one file at a time (files start
//    real PostgreSQL servers and replica processes; two cores do not fit more).
// Usage: node scripts/test.mjs [unit|integration|e2e|examples ...] (default: all, in that order)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
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

const suites = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['unit', 'integration', 'e2e'];
const files = suites.flatMap((suite) =>
  readdirSync(join('test', suite))
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join('test', suite, f)),
);
if (files.length === 0) {
  console.error(`no test files in ${suites.join(', ')}`);
  process.exit(1);
}
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
