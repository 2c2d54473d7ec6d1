import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replicaConfig } from '../../src/node/config.js';
import { startReplica } from '../../src/node/replica.js';
import { silentLogger } from '../../src/log.js';
import { settlesWithin } from '../../src/time.js';
import { usePostgresPerFile } from '../helpers/postgres.js';

const file = usePostgresPerFile();

test('a replica stopped as soon as it has started stops (a SIGTERM during start-up)', async () => {
  const databaseUrl = await file.server.database();
  const replica = await startReplica(
    replicaConfig({ id: 'early', databaseUrl, logger: silentLogger, port: 0, drainGraceMs: 0 }),
  );
  // Its long-lived connections are still connecting: the stop must close them once they are up.
  assert.ok(await settlesWithin(replica.stop(), 10_000), 'stop() completes');
});
