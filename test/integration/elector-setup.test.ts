import assert from 'node:assert/strict';
import { TOKEN_LANE } from '../helpers/blocks.js';
import { describe, test } from 'node:test';
import { leaseTimings, type LeaseTimings } from '../../src/coordination/elector.js';
import { PostgresElector } from '../../src/coordination/postgres.js';
import type { DedicatedConnection } from '../../src/db/dedicated.js';
import { createLogger, type Logger } from '../../src/log.js';
import { LedgerStore } from '../../src/ledger/store.js';
import { usePostgresPerFile, testPool } from '../helpers/postgres.js';
import { proxied } from '../helpers/proxy.js';
import { waitUntil } from '../helpers/wait.js';

const file = usePostgresPerFile();
const cleanups = file.cleanups;

async function freshLane(): Promise<string> {
  const url = await file.server.database();
  const pool = testPool(url, 2);
  try {
    await new LedgerStore(pool).ensureLane('main', TOKEN_LANE);
  } finally {
    await pool.end();
  }
  return url;
}

function startElector(
  url: string,
  timings: LeaseTimings,
  logger: Logger,
  onSession?: (conn: DedicatedConnection) => Promise<void>,
): PostgresElector {
  const elector = new PostgresElector({
    url,
    replicaId: 'r',
    timings,
    logger,
    ...(onSession ? { onSession } : {}),
  });
  const controller = new AbortController();
  const done = elector.run(controller.signal);
  cleanups.push(async () => {
    controller.abort();
    await done;
  });
  return elector;
}

/** A logger that keeps the messages it is given, for tests to wait on. */
function recordingLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const logger = createLogger(
    {},
    { level: 'debug', write: (line) => messages.push((JSON.parse(line) as { msg: string }).msg) },
  );
  return { logger, messages };
}

// Found by `baton chaos --seed 1364725422 --duration 5m --fault-every 1s --lease-ttl 600 --rate 80
// --lanes a,b,c`: after a replica restart under load, each elector's session setup query hit its
// query timeout on a connection that stayed up; the elector then never set up a session again, so
// no replica ever campaigned and the whole cluster stopped producing blocks.
describe('the elector after a failed session setup', () => {
  test('a failing setup on a live connection is retried, and the replica is elected', async () => {
    const url = await freshLane();
    const { logger, messages } = recordingLogger();
    let failures = 1;
    const elector = startElector(url, leaseTimings(1_500), logger, () => {
      if (failures-- > 0) return Promise.reject(new Error('setup failed'));
      return Promise.resolve();
    });
    const won = elector.events.waitFor('lane:elected', (e) => e.lane === 'main', AbortSignal.timeout(15_000));
    elector.setCandidacy(['main']);
    await won;
    assert.ok(messages.some((m) => m.startsWith('elector session setup failed')));
  });

  test('a setup query slower than the query timeout (a slow database) does not stall the elector for good', async () => {
    const url = await freshLane();
    const { proxy, viaProxy } = await proxied(url, cleanups);

    // A 600 ms lease gives a 250 ms query timeout; 200 ms each way makes every query slower.
    proxy.setMode('delay', { fixedMs: 200, jitterMs: 0 });
    const { logger, messages } = recordingLogger();
    const elector = startElector(viaProxy.toString(), leaseTimings(600), logger);
    elector.setCandidacy(['main']);
    await waitUntil(() => messages.some((m) => m.startsWith('elector session setup failed')), {
      timeoutMs: 20_000,
      message: 'a session setup that times out',
    });
    const won = elector.events.waitFor('lane:elected', (e) => e.lane === 'main', AbortSignal.timeout(15_000));
    proxy.setMode('pass');
    await won;
  });
});
