import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import { isReady } from '../../src/cluster/local.js';
import { HaproxyProcess } from '../../src/cluster/haproxy.js';
import { createClient, generateKeyPair, signTx, type KeyPair } from '../../src/client/index.js';
import type { ReplicaProcess } from '../../src/cluster/replica-process.js';
import { TestCluster } from '../helpers/cluster.js';
import { runCliOnce } from '../helpers/admin.js';
import { send } from '../helpers/http.js';
import { checkLedger } from '../helpers/invariants.js';
import { TestPostgres, withClient } from '../helpers/postgres.js';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../helpers/wait.js';

// The rolling upgrade of docs/upgrades.md, step by step, on three replica processes, under SDK
// load and plain load through HAProxy (deploy/haproxy/haproxy.cfg), of the example app package
// examples/name-registry (names 1.0.0, and 2.0.0 which adds expiry):
//   1. every replica runs names 1.0.0;
//   2. restart replicas one at a time with both versions (--app v1 --app v2): r1 and r2 here;
//   3. baton upgrade names --to 2.0.0 (the admin API);
//   4. restart the rest (r3, still 1.0.0 only, which until then refuses the lane's submissions
//      with 503 app_unavailable and reports not ready) with the new version.
// Then a lane with approvers, which switches only once a quorum of them approved.

const LANE = 'names';
/** The example app, loaded by path as a user's module. */
const apps = {
  v1: fileURLToPath(new URL('../../examples/name-registry/v1.js', import.meta.url)),
  v2: fileURLToPath(new URL('../../examples/name-registry/v2.js', import.meta.url)),
};
const MAX_TXS = 20_000;

let server: TestPostgres;
let dbUrl: string;
let cluster: TestCluster;
let proxy: HaproxyProcess;
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  server = await TestPostgres.start();
  dbUrl = await server.database();
  cluster = await TestCluster.start({ databaseUrl: dbUrl, replicaArgs: ['--app', apps.v1] });
  cleanups.push(() => cluster.stop());
  const servers = cluster.local.replicas.map((r) => ({ name: r.options.id, port: r.options.port }));
  proxy = await HaproxyProcess.start(servers, servers.length);
  cleanups.push(() => proxy.stop());
  const created = await admin('POST', '/v1/admin/lanes', { lane: LANE, app: 'names' });
  assert.equal(created.status, 201, created.text);
  await cluster.leader(LANE);
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await server?.stop();
});

async function admin(method: string, path: string, body?: unknown, url = cluster.urls[0]!) {
  return send(url, method, path, {
    headers: { authorization: `Bearer ${cluster.local.adminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Signed `register`s of new names from a few workers through `submit`, each acknowledged or failed. */
class RegisterLoad {
  readonly acked = new Set<string>();
  readonly failures: string[] = [];
  sent = 0;
  private stopped = false;
  private workers: Promise<void>[] = [];

  constructor(
    private readonly name: string,
    private readonly submit: (tx: Awaited<ReturnType<typeof signTx>>) => Promise<string | null>,
  ) {}

  start(workers = 3): void {
    this.workers = Array.from({ length: workers }, async (_, w) => {
      const key = await generateKeyPair();
      for (let n = 0; !this.stopped && this.sent < MAX_TXS; n++) {
        this.sent++;
        const tx = await signTx(LANE, { kind: 'register', args: { name: `${this.name}-${w}-${n}` } }, key);
        const failure = await this.submit(tx).catch((error: unknown) => String(error));
        if (failure === null) this.acked.add(tx.id);
        else this.failures.push(failure);
      }
    });
  }

  async waitAcks(n: number, why: string): Promise<void> {
    const target = this.acked.size + n;
    await waitUntil(() => this.acked.size >= target || this.sent >= MAX_TXS, {
      timeoutMs: 30_000,
      message: () =>
        `${this.name}: ${n} more acknowledged registrations ${why} (failures: ${this.failures.length})`,
    });
    assert.ok(this.sent < MAX_TXS, `the ${this.name} load hit its bound`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers);
  }
}

function sdkLoad(): RegisterLoad {
  const client = createClient({ endpoints: cluster.urls, attempts: 60, timeoutMs: 5_000 });
  return new RegisterLoad('sdk', async (tx) => {
    const answer = await client.submitSigned(LANE, tx);
    return answer.id === tx.id ? null : `answered ${JSON.stringify(answer)}`;
  });
}

function haproxyLoad(): RegisterLoad {
  const url = `http://127.0.0.1:${proxy.port}`;
  return new RegisterLoad('haproxy', async (tx) => {
    const res = await fetch(`${url}/v1/lanes/${LANE}/txs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(tx.envelope),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    return res.status >= 200 && res.status < 300 ? null : `${res.status}: ${text.slice(0, 200)}`;
  });
}

/** Drains a replica (SIGTERM), then starts it again with other `--app` arguments; waits until UP. */
async function restartWith(t: TestContext, replica: ReplicaProcess, appArgs: string[]): Promise<void> {
  const id = replica.options.id;
  await replica.stop(15_000);
  replica.options.extraArgs = [
    ...(replica.options.extraArgs ?? []).filter((a, i, all) => a !== '--app' && all[i - 1] !== '--app'),
    ...appArgs,
  ];
  replica.start();
  await waitUntil(() => isReady(replica.url), {
    timeoutMs: 30_000,
    message: `${id} ready after its restart; see ${cluster.logFile(id)}`,
  });
  await proxy.waitServer(id, 'UP');
  t.diagnostic(`${id} restarted with ${appArgs.filter((a) => a !== '--app').join(', ')}`);
}

interface BlockRow {
  height: number;
  version: string | null;
  upgrade: string | null;
  producer: string;
  time: number;
}

async function blocks(lane: string): Promise<BlockRow[]> {
  return withClient(dbUrl, async (c) => {
    const { rows } = await c.query<{
      height: string;
      version: string | null;
      upgrade: string | null;
      producer: string;
      time_ms: string;
    }>(
      'SELECT height, version, upgrade, producer, time_ms FROM baton_blocks WHERE lane = $1 ORDER BY height',
      [lane],
    );
    return rows.map((r) => ({
      height: Number(r.height),
      version: r.version,
      upgrade: r.upgrade,
      producer: r.producer,
      time: Number(r.time_ms),
    }));
  });
}

async function laneVersion(lane: string): Promise<string | null> {
  const answer = await send(cluster.urls[0]!, 'GET', `/v1/lanes/${lane}`);
  return (JSON.parse(answer.text) as { version: string | null }).version;
}

test('rolling upgrade v1 -> v2 under SDK and HAProxy load: no failed request, no block of the wrong version', async (t) => {
  const [r1, r2, r3] = cluster.local.replicas as [ReplicaProcess, ReplicaProcess, ReplicaProcess];
  const loads = [sdkLoad(), haproxyLoad()];
  for (const load of loads) load.start();
  try {
    for (const load of loads) await load.waitAcks(20, 'before the rollout');

    // An upgrade to a version no ready replica runs is refused, and changes nothing.
    const early = await admin('POST', `/v1/admin/lanes/${LANE}/upgrade`, { to: '2.0.0' });
    assert.equal(early.status, 409, early.text);
    assert.equal((JSON.parse(early.text) as { error: { code: string } }).error.code, 'version_unavailable');

    // 2. Replicas that run both versions, one at a time.
    for (const replica of [r1, r2]) {
      await restartWith(t, replica, ['--app', apps.v1, '--app', apps.v2]);
      for (const load of loads) await load.waitAcks(10, `after restarting ${replica.options.id}`);
    }

    // 3. The switch, with the command docs/upgrades.md gives: it waits until the lane runs 2.0.0.
    const upgraded = await runCliOnce([
      'upgrade',
      LANE,
      '--to',
      '2.0.0',
      '--url',
      cluster.urls[0]!,
      '--admin-token-file',
      cluster.local.adminTokenFile,
    ]);
    assert.equal(upgraded.code, 0, upgraded.out);
    assert.match(upgraded.out, /upgrade names 1\.0\.0 -> 2\.0\.0 proposed; replicas running it: r1, r2/);
    assert.match(upgraded.out, /lane names now runs names 2\.0\.0/);
    assert.equal(await laneVersion(LANE), '2.0.0');
    for (const load of loads) await load.waitAcks(20, 'after the switch');

    // r3 runs 1.0.0 only: it follows and serves reads, refuses the lane's submissions, is not ready.
    const key: KeyPair = await generateKeyPair();
    const refused = await send(r3.url, 'POST', `/v1/lanes/${LANE}/txs`, {
      body: JSON.stringify((await signTx(LANE, { kind: 'register', args: { name: 'on-r3' } }, key)).envelope),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(refused.status, 503, refused.text);
    assert.equal((JSON.parse(refused.text) as { error: { code: string } }).error.code, 'app_unavailable');
    const readyz = await send(r3.url, 'GET', '/readyz');
    assert.equal(readyz.status, 503);
    assert.match(readyz.text, /names 2\.0\.0/);
    const read = await send(r3.url, 'GET', `/v1/lanes/${LANE}/blocks?from=1&limit=1`);
    assert.equal(read.status, 200, 'r3 still serves reads');
    const leader = await cluster.leader(LANE);
    assert.notEqual(leader.id, 'r3', 'only replicas that run 2.0.0 lead the lane');

    // 4. Restart the rest with the new version.
    await restartWith(t, r3, ['--app', apps.v2]);
    for (const load of loads) await load.waitAcks(20, 'after the rollout');
  } finally {
    for (const load of loads) await load.stop();
  }
  for (const load of loads) {
    t.diagnostic(`${load.sent} sent, ${load.acked.size} acknowledged, ${load.failures.length} failed`);
    assert.deepEqual(load.failures.slice(0, 10), [], 'no client request failed');
  }

  const all = new Map<string, number>();
  for (const load of loads) for (const id of load.acked) all.set(id, 0);
  await waitUntil(
    async () => {
      const statuses = await withClient(dbUrl, (c) =>
        c.query<{ n: string }>(
          'SELECT count(*) AS n FROM baton_txs WHERE id = ANY($1::text[]) AND height IS NOT NULL',
          [[...all.keys()]],
        ),
      );
      return Number(statuses.rows[0]!.n) === all.size;
    },
    { timeoutMs: 30_000, message: 'every acknowledged registration committed' },
  );
  await checkLedger(dbUrl, all, LANE);

  // Exactly one switch block (produced by 1.0.0); 1.0.0 blocks up to it, 2.0.0 blocks after it.
  const chain = await blocks(LANE);
  const switches = chain.filter((b) => b.upgrade !== null);
  assert.equal(switches.length, 1, 'one switch block');
  const at = switches[0]!;
  assert.equal(at.upgrade, '2.0.0');
  assert.equal(at.version, '1.0.0');
  assert.deepEqual(
    chain.filter((b) => b.height <= at.height && b.version !== '1.0.0'),
    [],
    'no 2.0.0 block before the switch',
  );
  assert.deepEqual(
    chain.filter((b) => b.height > at.height && b.version !== '2.0.0'),
    [],
    'no 1.0.0 block after it',
  );
  const next = chain.find((b) => b.height === at.height + 1);
  assert.ok(next, 'production went on after the switch');
  t.diagnostic(
    `switch at height ${at.height} by ${at.producer}; next block by ${next.producer} ${next.time - at.time} ms later`,
  );
  // The versions endpoint tells the same story.
  const versions = JSON.parse((await send(cluster.urls[1]!, 'GET', `/v1/lanes/${LANE}/versions`)).text) as {
    versions: Array<{ version: string; firstHeight: number; lastHeight: number }>;
  };
  assert.deepEqual(
    versions.versions.map((v) => [
      v.version,
      v.firstHeight,
      v.lastHeight <= at.height ? v.lastHeight : 'tip',
    ]),
    [
      ['1.0.0', 1, at.height],
      ['2.0.0', at.height + 1, 'tip'],
    ],
  );
});

test('a lane with approvers switches only once a quorum of distinct approvers approved that version', async () => {
  const approvers = await Promise.all([generateKeyPair(), generateKeyPair(), generateKeyPair()]);
  const stranger = await generateKeyPair();
  const created = await admin('POST', '/v1/admin/lanes', {
    lane: 'voted',
    app: 'names',
    version: '1.0.0',
    approvers: approvers.map((k) => k.publicKey),
    quorum: 2,
  });
  assert.equal(created.status, 201, created.text);
  await cluster.leader('voted');
  const client = createClient({ endpoints: cluster.urls });
  const commit = async (kind: string, args: unknown, key: KeyPair) => {
    const { id } = await client.submit('voted', { kind, args }, key);
    return client.waitForCommit('voted', id, { signal: AbortSignal.timeout(15_000) });
  };
  await commit('register', { name: 'before' }, stranger);

  const proposed = await admin('POST', '/v1/admin/lanes/voted/upgrade', { to: '2.0.0' });
  assert.equal(proposed.status, 202, proposed.text);
  assert.equal((JSON.parse(proposed.text) as { status: string }).status, 'awaiting_approvals');

  const first = await commit('baton.approve', { version: '2.0.0' }, approvers[0]);
  assert.equal(first.ok, true);
  const again = await commit('baton.approve', { version: '2.0.0' }, approvers[0]);
  assert.deepEqual([again.ok, again.error], [false, 'duplicate_approval']);
  const outsider = await commit('baton.approve', { version: '2.0.0' }, stranger);
  assert.deepEqual([outsider.ok, outsider.error], [false, 'not_an_approver']);
  const other = await commit('baton.approve', { version: '3.0.0' }, approvers[1]);
  assert.equal(other.ok, true, 'an approval of another version is recorded');
  await commit('register', { name: 'still-one' }, stranger);
  assert.equal(await laneVersion('voted'), '1.0.0', 'one approval of 2.0.0 is not a quorum');

  const second = await commit('baton.approve', { version: '2.0.0' }, approvers[2]);
  assert.equal(second.ok, true);
  await waitUntil(async () => (await laneVersion('voted')) === '2.0.0', {
    timeoutMs: 15_000,
    message: 'the lane switches once the quorum approved',
  });
  const chain = await blocks('voted');
  const at = chain.find((b) => b.upgrade !== null)!;
  assert.equal(at.height, second.height, 'the block with the quorum-making approval is the switch block');
  // 2.0.0 gives new registrations an expiry; the one made under 1.0.0 never expires.
  const after = await commit('register', { name: 'after' }, stranger);
  const record = async (name: string) =>
    (
      JSON.parse((await send(cluster.urls[0]!, 'GET', `/v1/lanes/voted/state/name%3A${name}`)).text) as {
        value: { expires?: number };
      }
    ).value;
  assert.equal((await record('after')).expires, after.height! + 1000, 'the registration ran on 2.0.0');
  assert.equal((await record('before')).expires, undefined, 'the 1.0.0 record is read as never expiring');
});
