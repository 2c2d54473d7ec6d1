import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replicaConfig } from '../../src/node/config.js';
import { ReplicaIdInUseError } from '../../src/node/registry.js';
import { startReplica } from '../../src/node/replica.js';
import { silentLogger } from '../../src/log.js';
import { usePostgresPerFile } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';

const file = usePostgresPerFile();

test('a second process with a replica id that is live in the cluster is refused; after it leaves, the id is free', async () => {
  const databaseUrl = await file.server.database();
  const config = (id: string) => replicaConfig({ id, databaseUrl, logger: silentLogger, port: 0 });
  const first = await startReplica(config('twin'));
  file.cleanups.push(() => first.stop());
  await waitUntil(async () => (await fetch(`${first.url}/readyz`)).ok, { message: 'first replica ready' });

  await assert.rejects(startReplica(config('twin')), (error: unknown) => {
    assert.ok(error instanceof ReplicaIdInUseError, String(error));
    assert.match(error.message, /already live/);
    return true;
  });
  assert.equal((await fetch(`${first.url}/readyz`)).status, 200, 'the live replica is untouched');

  await first.stop();
  const again = await startReplica(config('twin'));
  file.cleanups.push(() => again.stop());
  await waitUntil(async () => (await fetch(`${again.url}/readyz`)).ok, { message: 'the id is usable again' });
});

test('a replica whose --mode differs from the live replicas is refused', async () => {
  const databaseUrl = await file.server.database();
  const first = await startReplica(replicaConfig({ id: 'aa', databaseUrl, logger: silentLogger, port: 0 }));
  file.cleanups.push(() => first.stop());
  await waitUntil(async () => (await fetch(`${first.url}/readyz`)).ok, { message: 'first replica ready' });

  const passive = replicaConfig({
    id: 'ap',
    databaseUrl,
    logger: silentLogger,
    port: 0,
    mode: 'active-passive',
  });
  await assert.rejects(startReplica(passive), /runs in active-active mode and this one in active-passive/);
  const res = await fetch(`${first.url}/v1/cluster`);
  const view = (await res.json()) as { replicas: Array<{ id: string }> };
  assert.deepEqual(
    view.replicas.map((r) => r.id),
    ['aa'],
    'the refused replica left no trace',
  );
});
