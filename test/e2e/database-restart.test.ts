import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from '../helpers/cluster.js';
import { checkLedger, committedCount, tipHeight } from '../helpers/invariants.js';
import { FaucetLoad } from '../helpers/load.js';
import { usePostgresPerFile } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';

const file = usePostgresPerFile();
const cleanups = file.cleanups;

test('a PostgreSQL restart under load: replicas reconnect, a leader resumes, nothing lost or forked', async () => {
  const url = await file.server.database();
  const cluster = await TestCluster.start({ databaseUrl: url, leaseTtlMs: 3_000 });
  cleanups.push(() => cluster.stop());
  // A database restart can outlast the default retry budget on a slow machine: give each
  // submission about half a minute of retries.
  const traffic = new FaucetLoad(cluster.urls, 8, 'main', 120);
  traffic.start();
  cleanups.push(() => traffic.stop());
  await waitUntil(async () => (await tipHeight(url)) >= 3, { message: 'blocks before the restart' });
  const before = await cluster.leader();

  await file.server.server.stop();
  await waitUntil(
    async () => {
      const answers = await Promise.all(cluster.urls.map((u) => fetch(`${u}/readyz`).then((r) => r.status)));
      return answers.every((s) => s === 503);
    },
    { message: 'every replica reports not ready while the database is down' },
  );
  await file.server.server.start();

  const heightAtRestart = await waitUntil(() => tipHeight(url).catch(() => undefined));
  await waitUntil(async () => (await tipHeight(url)) >= heightAtRestart + 3, {
    timeoutMs: 30_000,
    message: 'block production after the database came back',
  });
  const after = await cluster.leader();
  assert.ok(after.term > before.term, 'leadership was re-established under a new term');
  await cluster.local.waitReady(30_000);

  await traffic.stop();
  const ids = [...traffic.acked.keys()];
  await waitUntil(async () => (await committedCount(url, ids)) === ids.length, {
    timeoutMs: 30_000,
    message: 'every acknowledged transaction committed',
  });
  await checkLedger(url, traffic.acked);
  assert.deepEqual(traffic.failures, [], 'the SDK rode out the outage by retrying');
});
