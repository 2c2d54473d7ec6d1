#!/usr/bin/env node
// Runs the test suites with node's test runner, one file at a time (files start real
// PostgreSQL servers and replica processes; two cores do not fit more).
// Usage: node scripts/test.mjs [unit|integration|e2e ...] (default: all three, in that order)
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

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
