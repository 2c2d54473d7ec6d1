// The Debian packages the tests run for real, installed when missing.
// As root with apt-get it installs them (keeping their services from starting); otherwise it
// stops at once and names the one command to run. Imported by scripts/test.mjs.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, rmSync, chmodSync } from 'node:fs';

/** What each test needs from Debian: a file that proves the package is there, and the package. */
export const SYSTEM_PACKAGES = [
  // test/e2e/haproxy*.test.ts run HAProxy with deploy/haproxy/haproxy.cfg on free ports.
  { pkg: 'haproxy', file: '/usr/sbin/haproxy' },
  // test/e2e/browser.test.ts runs the SDK's browser bundle in Chromium.
  { pkg: 'chromium', file: '/usr/bin/chromium' },
];

function onPath(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Installs the missing packages. False (with the command that would install them printed, and
 * the exit code set) when it cannot.
 */
export function ensureSystemPackages(packages = SYSTEM_PACKAGES) {
  const missing = packages.filter((p) => !existsSync(p.file)).map((p) => p.pkg);
  if (missing.length === 0) return true;
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !onPath('apt-get')) {
    console.error(`The tests need these Debian packages, which are missing: ${missing.join(', ')}.`);
    console.error(`Install them, then run npm test again:\n\n  sudo sh -c '${command}'\n`);
    process.exitCode = 1;
    return false;
  }
  console.log(`== installing the Debian packages the tests need: ${missing.join(' ')}`);
  // Package scripts must not start system services (haproxy's) on this machine.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) {
    writeFileSync(policy, '#!/bin/sh\nexit 101\n');
    chmodSync(policy, 0o755);
  }
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const run = (args) => {
      const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
      return result.status === 0 ? null : `apt-get ${args.join(' ')} failed (exit ${result.status})`;
    };
    const failure =
      run(['update', '-qq']) ?? run(['install', '-y', '-qq', '--no-install-recommends', ...missing]);
    if (failure) {
      console.error(`${failure}; run yourself:\n\n  ${command}\n`);
      process.exitCode = 1;
      return false;
    }
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
  const still = packages.filter((p) => !existsSync(p.file));
  if (still.length > 0) {
    console.error(`installed, but still missing: ${still.map((p) => p.file).join(', ')}`);
    process.exitCode = 1;
    return false;
  }
  return true;
}
