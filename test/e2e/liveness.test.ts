import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, afterEach, before, test } from 'node:test';
import pg from 'pg';
import { createClient, generateKeyPair } from '../../src/client/index.js';
import { TestCluster } from '../helpers/cluster.js';
import { checkLedger } from '../helpers/invariants.js';
import { TestPostgres } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';

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

async function livez(url: string): Promise<{ status: number; reason?: string }> {
  const res = await fetch(`${url}/livez`, { signal: AbortSignal.timeout(2_000) });
  const body = (await res.json()) as { reason?: string };
  return { status: res.status, ...(body.reason ? { reason: body.reason } : {}) };
}

test('a leader that cannot commit while transactions wait reports unhealthy and gives its lane up', async () => {
  const databaseUrl = await server.database();
  // Only r1, the preferred leader, has the short stall timeout: its successor's first commit waits
  // on the same lock, and must not give the lane up in turn before the lock is released.
  cluster = await TestCluster.start({
    databaseUrl,
    replicas: 2,
    argsFor: (id) => (id === 'r1' ? ['--stall-timeout', '1000', '--priority', '1'] : []),
  });
  const c = cluster;
  const leader = await c.leader('main', (id) => id === 'r1');
  const stalled = c.local.replica(leader.id);
  const other = c.local.replicas.find((r) => r !== stalled)!;

  // Hold every block insert back: the leader's commit waits on the lock, as on a stuck disk.
  const blocker = new pg.Client({ connectionString: databaseUrl });
  await blocker.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE baton_blocks IN EXCLUSIVE MODE');
    const client = createClient({ endpoints: [other.url] });
    const key = await generateKeyPair();
    const { id } = await client.submit('main', { kind: 'faucet', args: { amount: 5 } }, key);

    const report = await waitUntil(
      async () => {
        const l = await livez(stalled.url);
        return l.status === 503 ? l : undefined;
      },
      { timeoutMs: 15_000, message: 'the stalled leader reporting unhealthy' },
    );
    assert.match(report.reason ?? '', /lane main: transactions pending but no block committed for \d+ ms/);
    const metrics = await (await fetch(`${stalled.url}/metrics`)).text();
    assert.match(metrics, /baton_live\{replica="[^"]+"\} 0/);
    const next = await c.leader('main', (id2, term) => id2 === other.options.id && term > leader.term);
    assert.equal((await livez(other.url)).status, 200);

    await blocker.query('COMMIT');
    const receipt = await client.waitForCommit('main', id, { signal: AbortSignal.timeout(15_000) });
    assert.equal(receipt.ok, true);
    const facts = await checkLedger(databaseUrl, new Map([[id, 5]]));
    // The stalled leader's commit, released with the lock, was fenced by the successor's term.
    assert.ok(facts.blocks.every((b) => b.term !== leader.term || b.producer === leader.id));
    assert.equal(facts.blocks.find((b) => b.txs.includes(id))?.producer, other.options.id);
    assert.ok(next.term > leader.term);
  } finally {
    await blocker.end();
  }
});

test('after an event loop stall the leader gives its lanes up and reports unhealthy', async () => {
  cluster = await TestCluster.start({
    databaseUrl: await server.database(),
    replicas: 2,
    lanes: ['a', 'b'],
    leaseTtlMs: 9_000,
  });
  const c = cluster;
  const leader = await c.leader('a');
  const frozen = c.local.replica(leader.id);
  frozen.signal('SIGSTOP');
  // The fault itself: a 1.5 s freeze, longer than the 1 s stall threshold and far inside the
  // 6 s renew deadline, so the lease alone would not move the lanes.
  await delay(1_500);
  frozen.signal('SIGCONT');
  const report = await waitUntil(
    async () => {
      const l = await livez(frozen.url);
      return l.status === 503 ? l : undefined;
    },
    { timeoutMs: 15_000, message: 'the frozen replica reporting unhealthy' },
  );
  assert.match(report.reason ?? '', /event loop stalled for \d+ ms/);
  // The frozen replica renews its lease again once it runs: only the stall can move lane a.
  await c.leader('a', (id, term) => id !== leader.id && term > leader.term, 15_000);
});
