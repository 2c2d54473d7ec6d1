import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, afterEach, before, test } from 'node:test';
import { createClient, generateKeyPair } from '../../src/client/index.js';
import { freePort } from '../../src/ports.js';
import { adminStatus, runCliOnce, waitForCounts } from '../helpers/admin.js';
import { TestCluster } from '../helpers/cluster.js';
import { TestPostgres } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';

const LANES = ['a', 'b', 'c', 'd', 'e', 'f'];

let server: TestPostgres;
let cluster: TestCluster | undefined;

before(async () => {
  server = await TestPostgres.start();
});

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

after(async () => {
  await server?.stop();
});

/** Terms of every lane, to tell a stable placement from one that keeps moving. */
async function terms(c: TestCluster): Promise<Record<string, number>> {
  const status = await adminStatus(c);
  return Object.fromEntries(status.lanes.map((l) => [l.lane, l.term]));
}

/** Commits one faucet transaction on every lane (each lane's leader must produce a block). */
async function commitOnEveryLane(c: TestCluster, lanes: readonly string[]): Promise<void> {
  const client = createClient({ endpoints: c.urls.filter((_, i) => c.local.replicas[i]!.running) });
  const key = await generateKeyPair();
  await Promise.all(
    lanes.map(async (lane) => {
      const { id } = await client.submit(lane, { kind: 'faucet', args: { amount: 1 } }, key);
      const receipt = await client.waitForCommit(lane, id, { signal: AbortSignal.timeout(15_000) });
      assert.equal(receipt.ok, true, `lane ${lane}`);
    }),
  );
}

test('lanes spread evenly, follow a replica leaving and rejoining by planned handover, then stay put', async () => {
  cluster = await TestCluster.start({ databaseUrl: await server.database(), lanes: LANES });
  await waitForCounts(cluster, { r1: 2, r2: 2, r3: 2 });

  const r3 = cluster.local.replica('r3');
  r3.signal('SIGKILL');
  await r3.waitExit();
  await waitForCounts(cluster, { r1: 3, r2: 3 });

  const before = await terms(cluster);
  r3.start();
  const balanced = await waitForCounts(cluster, { r1: 2, r2: 2, r3: 2 });
  // The two lanes r3 got back came by planned handover: one new term each, no lease expiry.
  for (const lane of balanced.lanes.filter((l) => l.leader === 'r3')) {
    assert.equal(lane.term, before[lane.lane]! + 1, `lane ${lane.lane} moved once`);
  }
  const logs =
    (await readFile(cluster.logFile('r1'), 'utf8')) + (await readFile(cluster.logFile('r2'), 'utf8'));
  assert.match(logs, /"msg":"handing lanes over for placement".*"to":"r3"/);

  // Balanced means settled: committing on every lane moves no leadership.
  const settled = await terms(cluster);
  await commitOnEveryLane(cluster, LANES);
  await commitOnEveryLane(cluster, LANES);
  assert.deepEqual(await terms(cluster), settled);
});

test('a replica of higher priority takes every lane; equal top priorities share them', async () => {
  cluster = await TestCluster.start({
    databaseUrl: await server.database(),
    replicas: 2,
    lanes: ['a', 'b', 'c', 'd'],
    argsFor: (id) => (id === 'r3' ? ['--priority', '10'] : []),
  });
  await waitForCounts(cluster, { r1: 2, r2: 2 });

  cluster.local.addReplica('r3', await freePort());
  await waitForCounts(cluster, { r3: 4 });

  const dataDirArgs = ['--url', cluster.urls[0]!, '--admin-token-file', cluster.local.adminTokenFile];
  const set = await runCliOnce(['priority', 'r1', '10', ...dataDirArgs]);
  assert.equal(set.code, 0, set.out);
  const shared = await waitForCounts(cluster, { r1: 2, r3: 2 });
  assert.equal(shared.replicas.find((r) => r.id === 'r1')?.priority, 10);
  assert.equal(shared.replicas.find((r) => r.id === 'r2')?.priority, 0);
});

test('active-passive: one replica leads every lane and only it is ready; another takes over when it dies', async () => {
  cluster = await TestCluster.start({
    databaseUrl: await server.database(),
    lanes: ['a', 'b', 'c'],
    replicaArgs: ['--mode', 'active-passive'],
    readyCount: 1,
  });
  const readyOnes = async (): Promise<string[]> => {
    const ready: string[] = [];
    for (const r of cluster!.local.replicas.filter((x) => x.running)) {
      const res = await fetch(`${r.url}/readyz`);
      const body = (await res.json()) as { reason?: string };
      if (res.status === 200) ready.push(r.options.id);
      else assert.match(body.reason ?? '', /passive/);
    }
    return ready;
  };
  const status = await waitUntil(
    async () => {
      const s = await adminStatus(cluster!);
      const leaders = new Set(s.lanes.map((l) => l.leader));
      return leaders.size === 1 && !leaders.has(null) ? s : undefined;
    },
    { message: 'one leader for every lane' },
  );
  const active = status.lanes[0]!.leader!;
  await waitUntil(async () => JSON.stringify(await readyOnes()) === JSON.stringify([active]), {
    message: `only ${active} ready`,
  });
  assert.ok(status.replicas.every((r) => r.mode === 'active-passive'));

  cluster.local.replica(active).signal('SIGKILL');
  const next = await waitUntil(
    async () => {
      const s = await adminStatus(cluster!);
      const leaders = new Set(s.lanes.map((l) => l.leader));
      const [only] = [...leaders];
      return leaders.size === 1 && only && only !== active ? only : undefined;
    },
    { message: 'another replica leading every lane' },
  );
  await waitUntil(async () => JSON.stringify(await readyOnes()) === JSON.stringify([next]), {
    message: `only ${next} ready`,
  });
});
