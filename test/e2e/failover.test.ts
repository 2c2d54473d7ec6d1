import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestCluster } from '../helpers/cluster.js';
import { checkLedger, committedCount, tipHeight } from '../helpers/invariants.js';
import { FaucetLoad } from '../helpers/load.js';
import { usePostgresPerFile, withClient } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';

const file = usePostgresPerFile();
const cleanups = file.cleanups;

async function cluster(leaseTtlMs: number): Promise<{ cluster: TestCluster; url: string }> {
  const url = await file.server.database();
  const c = await TestCluster.start({ databaseUrl: url, leaseTtlMs });
  cleanups.push(() => c.stop());
  return { cluster: c, url };
}

function load(c: TestCluster): FaucetLoad {
  const l = new FaucetLoad(c.urls, 12);
  l.start();
  cleanups.push(() => l.stop());
  return l;
}

async function waitHeight(url: string, atLeast: number, message: string): Promise<number> {
  return waitUntil(
    async () => {
      const h = await tipHeight(url);
      return h >= atLeast ? h : undefined;
    },
    { timeoutMs: 30_000, message },
  );
}

async function waitAllCommitted(url: string, l: FaucetLoad): Promise<void> {
  const ids = [...l.acked.keys()];
  await waitUntil(async () => (await committedCount(url, ids)) === ids.length, {
    timeoutMs: 30_000,
    message: `all ${ids.length} acknowledged transactions committed`,
  });
}

describe('failover with real replica processes', () => {
  test('SIGKILL of the leader under load: a new leader, nothing lost, duplicated or forked', async () => {
    const { cluster: c, url } = await cluster(3_000);
    const traffic = load(c);
    const before = await c.leader();
    await waitHeight(url, 5, 'blocks under load');

    c.local.replica(before.id).signal('SIGKILL');
    const next = await c.leader('main', (id, term) => id !== before.id && term > before.term);
    const resumedFrom = await tipHeight(url);
    await waitHeight(url, resumedFrom + 5, 'production after the failover');
    await traffic.stop();
    await waitAllCommitted(url, traffic);

    assert.deepEqual(traffic.failures, [], 'no acknowledged-or-failed request: the SDK retried elsewhere');
    assert.ok(traffic.acked.size > 0);
    const facts = await checkLedger(url, traffic.acked);
    const byNewLeader = facts.blocks.filter((b) => b.term === next.term);
    assert.ok(byNewLeader.length > 0, 'the new leader produced blocks');
    assert.ok(byNewLeader.every((b) => b.producer === next.id));
    assert.ok(
      facts.blocks.every((b) => b.term <= before.term || b.producer !== before.id),
      'the dead leader produced nothing new',
    );
  });

  test('SIGSTOP of the leader past its lease, then SIGCONT: takeover, and the woken process commits nothing', async () => {
    const ttl = 1_500;
    const { cluster: c, url } = await cluster(ttl);
    const traffic = load(c);
    const before = await c.leader();
    await waitHeight(url, 3, 'blocks under load');

    const paused = c.local.replica(before.id);
    paused.signal('SIGSTOP');
    cleanups.push(() => Promise.resolve(paused.signal('SIGCONT')));
    const next = await c.leader('main', (id, term) => id !== before.id && term > before.term);
    const firstOfNewTerm = await waitUntil(async () =>
      withClient(url, async (db) => {
        const { rows } = await db.query<{ h: string }>(
          'SELECT min(height) AS h FROM baton_blocks WHERE term = $1',
          [next.term],
        );
        return rows[0]?.h ? Number(rows[0].h) : undefined;
      }),
    );

    paused.signal('SIGCONT');
    // The woken replica must notice it lost the lane and become a healthy follower again.
    await waitUntil(async () => (await fetch(`${paused.url}/readyz`)).ok, {
      message: 'the woken replica is ready',
    });
    const woke = await tipHeight(url);
    await waitHeight(url, woke + 5, 'production continues after the old leader woke');
    await traffic.stop();
    await waitAllCommitted(url, traffic);

    const facts = await checkLedger(url, traffic.acked);
    const stale = facts.blocks.filter((b) => b.height > firstOfNewTerm && b.term <= before.term);
    assert.deepEqual(stale, [], 'no block of the old term after the new term began');
    assert.notEqual((await c.leader()).id, before.id, 'the woken replica did not take the lane back');
    assert.deepEqual(traffic.failures, []);
  });
});
