import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ChaosReport } from '../../src/chaos/report.js';
import { FAULT_KINDS } from '../../src/chaos/schedule.js';
import { settlesWithin } from '../../src/time.js';
import { CLI_ENTRY, TestCluster } from '../helpers/cluster.js';
import { usePostgresPerFile } from '../helpers/postgres.js';
import { writeThirdPartyApps } from '../helpers/third-party-apps.js';

const file = usePostgresPerFile();
const cleanups = file.cleanups;

interface Finished {
  code: number | null;
  output: string;
}

/** Runs the built CLI; kills it (and so its replicas) if it outlives `timeoutMs` or the test file. */
async function baton(args: string[], timeoutMs: number): Promise<Finished> {
  const child = spawn(process.execPath, [...CLI_ENTRY, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // the command heals its faults and stops everything it started
      if (!(await settlesWithin(exited, 30_000))) child.kill('SIGKILL');
    }
  });
  if (!(await settlesWithin(exited, timeoutMs))) {
    child.kill('SIGINT');
    await settlesWithin(exited, 30_000);
    assert.fail(`baton ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${output}`);
  }
  return { code: await exited, output };
}

async function outDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'baton-chaos-'));
  await chmod(dir, 0o755); // the embedded PostgreSQL (run as "postgres" under root) must enter it
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function readReport(dir: string): Promise<ChaosReport> {
  for (const name of ['report.md', 'timeline.svg', 'history.jsonl']) {
    assert.ok((await stat(join(dir, name))).size > 0, `${name} written`);
  }
  assert.match(
    await readFile(join(dir, 'timeline.svg'), 'utf8'),
    /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/,
  );
  return JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as ChaosReport;
}

describe('baton chaos', () => {
  test("a seeded run with a lane of a user's app: every kind of fault fires, the cluster recovers from each, no invariant is violated", async () => {
    const dir = await outDir();
    const apps = await writeThirdPartyApps();
    cleanups.push(() => apps.remove());
    const seed = '20261122';
    const intent = '{"kind":"put","args":{"key":"k{n}","text":"{client}-{n}"}}';
    const run = await baton(
      [
        'chaos',
        '--seed',
        seed,
        '--duration',
        '80s',
        '--fault-every',
        '1500ms',
        '--out',
        dir,
        '--app',
        apps.v1,
        '--app-lane',
        'notes=notes',
        '--app-tx',
        intent,
      ],
      240_000,
    );
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, new RegExp(`seed ${seed}: no invariant violated`));
    assert.match(run.output, /fault #1 /, 'one line per fault');
    assert.match(
      run.output,
      /ops ok \d+ failed \d+ unknown \d+ · main (r\d|-) t\d+ h\d+/,
      'periodic status lines',
    );

    const report = await readReport(dir);
    assert.equal(report.seed, Number(seed));
    assert.equal(report.verdict, 'clean');
    assert.deepEqual(report.violations, []);
    assert.deepEqual(report.faults.enabled, [...FAULT_KINDS]);
    for (const event of report.faults.events) {
      assert.equal(
        event.outcome,
        'fired',
        `fault #${event.index} ${event.kind}: ${event.note ?? event.detail}`,
      );
      assert.ok(event.recoveredAt !== undefined, `the cluster recovered from fault #${event.index}`);
    }
    for (const kind of FAULT_KINDS) assert.ok((report.faults.fired[kind] ?? 0) >= 1, `${kind} fired`);
    assert.ok(report.ops.outcomes.ok > 500, `${report.ops.outcomes.ok} operations acknowledged`);
    assert.ok(report.ops.byKind.forged && report.ops.byKind.forged.failed > 0, 'badly signed ones refused');
    assert.ok(
      report.lanes.every((l) => l.height > 0 && l.terms > 1),
      'every lane changed leaders',
    );
    assert.ok(report.streams.every((s) => s.last === report.lanes.find((l) => l.lane === s.lane)!.height));
    assert.match(report.reproduce, new RegExp(`^baton chaos --seed ${seed} `));

    // The notes lane ran the user's app under the same faults, and its operations were checked.
    assert.deepEqual(
      report.lanes.map((l) => [l.lane, l.app]),
      [
        ['main', 'token'],
        ['side', 'token'],
        ['notes', 'notes'],
      ],
    );
    const notes = report.lanes.find((l) => l.lane === 'notes')!;
    assert.ok(notes.ops.ok > 50, `${notes.ops.ok} operations acknowledged on the notes lane`);
    assert.ok(notes.ops.committed >= notes.ops.ok, 'every acknowledged one is in a block');
    assert.ok((report.ops.byKind.app?.ok ?? 0) > 0, 'app operations acknowledged');
    assert.ok(report.streams.some((s) => s.lane === 'notes' && s.last === notes.height));
    assert.match(report.reproduce, /--app-lane notes=notes --app-tx '\{"kind":"put",/);
    assert.match(await readFile(join(dir, 'report.md'), 'utf8'), /\| notes \| notes \| \d+ \/ /);
  });

  test('attached to a running cluster: only pauses are possible, and the others are named as skipped', async () => {
    const url = await file.server.database();
    const cluster = await TestCluster.start({ databaseUrl: url, leaseTtlMs: 1_500, lanes: ['main'] });
    cleanups.push(() => cluster.stop());
    const dir = await outDir();
    const run = await baton(
      [
        'chaos',
        '--seed',
        '5',
        '--duration',
        '15s',
        '--fault-every',
        '1s',
        '--lease-ttl',
        '1500',
        '--out',
        dir,
        '--url',
        cluster.urls.join(','),
        '--database-url',
        url,
      ],
      120_000,
    );
    assert.equal(run.code, 0, run.output);
    for (const kind of FAULT_KINDS.filter((k) => !k.startsWith('pause-'))) {
      assert.match(run.output, new RegExp(`skipping ${kind}: attached`), `${kind} named as skipped`);
    }
    const report = await readReport(dir);
    assert.deepEqual(report.faults.enabled, ['pause-leader', 'pause-follower']);
    assert.ok(report.faults.events.length >= 1 && report.faults.events.every((e) => e.outcome === 'fired'));
    assert.deepEqual(report.violations, []);
  });

  test('--help, and usage errors: an unknown fault, app lanes without a valid intent, apps with --url', async () => {
    const help = await baton(['chaos', '--help'], 30_000);
    assert.equal(help.code, 0);
    for (const kind of FAULT_KINDS) assert.match(help.output, new RegExp(`\\b${kind}\\b`));
    assert.match(help.output, /--app-lane LANE=APP/);
    const bad = await baton(['chaos', '--faults', 'kill-leader,meteor'], 30_000);
    assert.equal(bad.code, 2);
    assert.match(bad.output, /unknown fault "meteor"/);
    const usage: Array<[string[], RegExp]> = [
      [['--app-lane', 'notes=notes'], /--app-lane needs --app-tx/],
      [['--app-lane', 'notes=notes', '--app-tx', '{"kind":"put"}'], /--app-tx needs "args"/],
      [['--url', 'http://127.0.0.1:9', '--app', './notes.mjs'], /not with --url/],
    ];
    for (const [args, message] of usage) {
      const refused = await baton(['chaos', ...args], 30_000);
      assert.equal(refused.code, 2, refused.output);
      assert.match(refused.output, message);
    }
  });
});
