import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { freePort, freePortRun } from '../../src/ports.js';
import { settlesWithin } from '../../src/time.js';
import { CLI_ENTRY } from '../helpers/cluster.js';
import { waitUntil } from '../helpers/wait.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];

after(async () => {
  // SIGINT first: baton up then stops its replicas and its embedded PostgreSQL, which a SIGKILL
  // would leave running for the test files after this one.
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    if (!(await settlesWithin(gone, 30_000))) child.kill('SIGKILL');
  }
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function runCli(args: string[]): {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  /** Settles once the output is read to its end too. */
  closed: Promise<void>;
} {
  const child = spawn(process.execPath, [...CLI_ENTRY, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  createInterface({ input: child.stderr }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { child, lines, exited, closed };
}

test('baton up starts a ready cluster on a fresh data directory and Ctrl-C leaves nothing running', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'baton-up-'));
  dirs.push(dir);
  const port = await freePortRun(3);
  const up = runCli(['up', '--replicas', '3', '--port', String(port), '--data-dir', dir]);
  const started = await waitUntil(
    () => (up.child.exitCode !== null ? 'exited' : up.lines.some((l) => l.startsWith('ready in')) && 'ready'),
    { timeoutMs: 30_000, message: () => `"ready in" from baton up; output so far:\n${up.lines.join('\n')}` },
  );
  if (started === 'exited') {
    await up.closed;
    assert.fail(
      `baton up exited with code ${up.child.exitCode} before it was ready:\n${up.lines.join('\n')}`,
    );
  }
  const urls = [0, 1, 2].map((i) => `http://127.0.0.1:${port + i}`);
  for (const url of urls) assert.equal((await fetch(`${url}/readyz`)).status, 200, url);
  const view = (await (await fetch(`${urls[0]}/v1/cluster`)).json()) as {
    replicas: Array<{ id: string; pid: number }>;
    lanes: Array<{ lane: string; leader: string | null }>;
  };
  assert.deepEqual(
    view.replicas.map((r) => r.id),
    ['r1', 'r2', 'r3'],
  );
  await waitUntil(async () => {
    const v = (await (await fetch(`${urls[0]}/v1/cluster`)).json()) as typeof view;
    return v.lanes[0]?.leader ?? undefined;
  });
  const postgresPid = Number((await readFile(join(dir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);
  assert.ok(alive(postgresPid));

  const status = runCli(['status', '--data-dir', dir]);
  assert.equal(await status.exited, 0);
  assert.ok(
    status.lines.some((l) => l.startsWith('main')),
    status.lines.join('\n'),
  );

  // The watchdog: a replica killed under baton up is restarted, and the restart is printed.
  const r2 = view.replicas.find((r) => r.id === 'r2')!;
  process.kill(r2.pid, 'SIGKILL');
  await waitUntil(
    () => up.lines.some((l) => /^r2\s+watchdog: exited on SIGKILL; restart 1 in 0\.5 s$/.test(l)),
    { message: () => `the watchdog restart line; output so far:\n${up.lines.join('\n')}` },
  );
  const restartedPid = await waitUntil(
    async () => {
      const v = (await (await fetch(`${urls[0]}/v1/cluster`)).json()) as typeof view;
      const again = v.replicas.find((r) => r.id === 'r2');
      const ready = (await fetch(`${urls[1]}/readyz`)).status === 200;
      return again && again.pid !== r2.pid && ready ? again.pid : undefined;
    },
    { message: 'r2 restarted and ready' },
  );

  const second = runCli(['up', '--replicas', '1', '--port', String(await freePort()), '--data-dir', dir]);
  assert.notEqual(await second.exited, 0, 'a second baton up on a data directory in use is refused');
  assert.ok(
    second.lines.some((l) => l.includes('already running')),
    second.lines.join('\n'),
  );

  up.child.kill('SIGINT');
  assert.equal(await up.exited, 0);
  assert.equal(alive(postgresPid), false, 'PostgreSQL stopped');
  assert.equal(alive(restartedPid), false, 'the restarted replica stopped');
  for (const r of view.replicas) assert.equal(alive(r.pid), false, `replica ${r.id} stopped`);
});

test('every command answers --help, and bad usage exits 2 with a message', async () => {
  const commands = ['up', 'node', 'status', 'handover', 'drain', 'lanes', 'priority'];
  for (const args of [['--help'], ...commands.map((c) => [c, '--help'])]) {
    const run = runCli(args);
    assert.equal(await run.exited, 0, args.join(' '));
    assert.ok(
      run.lines.some((l) => l.includes('usage')),
      args.join(' '),
    );
  }
  const bad = runCli(['up', '--replicas', 'many']);
  assert.equal(await bad.exited, 2);
  assert.ok(bad.lines.some((l) => l.includes('--replicas must be a whole number')));
  const missing = runCli(['node']);
  assert.equal(await missing.exited, 2);
});
