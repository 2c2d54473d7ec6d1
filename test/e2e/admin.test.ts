import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestCluster } from '../helpers/cluster.js';
import { TestPostgres } from '../helpers/postgres.js';

let server: TestPostgres;
let cluster: TestCluster | undefined;

before(async () => {
  server = await TestPostgres.start();
});

after(async () => {
  await cluster?.stop();
  await server?.stop();
});

test('POST /v1/admin/drain needs the bearer token, then drains the replica and hands its lane over', async () => {
  cluster = await TestCluster.start({ databaseUrl: await server.database(), leaseTtlMs: 10_000 });
  const leader = await cluster.leader();
  const target = cluster.local.replica(leader.id);
  const drain = (token?: string): Promise<Response> =>
    fetch(`${target.url}/v1/admin/drain`, {
      method: 'POST',
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });

  const anonymous = await drain();
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'unauthorized');
  assert.equal((await drain('not-the-token-at-all')).status, 401);
  assert.ok(target.running, 'a refused request changes nothing');

  const started = Date.now();
  const accepted = await drain(cluster.local.adminToken);
  assert.equal(accepted.status, 202);
  // Timed to the new leader alone: the drained process's own exit may take longer on a busy machine.
  const next = await cluster.leader('main', (id, term) => id !== leader.id && term > leader.term);
  const tookMs = Date.now() - started;
  assert.ok(
    tookMs < 10_000,
    `handed over without waiting for the 10 s lease (${next.id} after ${tookMs} ms)`,
  );
  await target.waitExit();
});
