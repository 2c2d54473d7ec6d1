import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createClient, type Block } from '../../src/client/index.js';
import { TestCluster } from '../helpers/cluster.js';
import { checkLedger, committedCount, tipHeight } from '../helpers/invariants.js';
import { FaucetLoad } from '../helpers/load.js';
import { usePostgresPerFile, withClient } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';
import { isReady } from '../../src/cluster/local.js';

const file = usePostgresPerFile();
const cleanups = file.cleanups;

async function startCluster(): Promise<{ cluster: TestCluster; url: string }> {
  const url = await file.server.database();
  const cluster = await TestCluster.start({ databaseUrl: url, leaseTtlMs: 3_000 });
  cleanups.push(() => cluster.stop());
  return { cluster, url };
}

/** Reads the lane's stream through the SDK into `heights` until stopped. */
function follow(endpoints: string[], after = 0, idleTimeoutMs = 3_000) {
  const controller = new AbortController();
  const blocks: Block[] = [];
  const client = createClient({ endpoints });
  const done = (async () => {
    try {
      for await (const block of client.blocks('main', {
        after,
        signal: controller.signal,
        idleTimeoutMs,
      })) {
        blocks.push(block);
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
  })();
  const stop = async (): Promise<void> => {
    controller.abort();
    await done;
  };
  cleanups.push(stop);
  return { blocks, stop };
}

async function restart(cluster: TestCluster, id: string): Promise<void> {
  const replica = cluster.local.replica(id);
  await replica.stop();
  replica.start();
  await waitUntil(() => isReady(replica.url), { timeoutMs: 30_000, message: `${id} ready again` });
}

async function assertStreamMatchesLedger(url: string, blocks: Block[]): Promise<void> {
  const tip = await tipHeight(url);
  await waitUntil(() => blocks.length >= tip, { timeoutMs: 20_000, message: `stream reaches height ${tip}` });
  assert.deepEqual(
    blocks.map((b) => b.height),
    Array.from({ length: blocks.length }, (_, i) => i + 1),
    'every height once, in order',
  );
  const hashes = await withClient(url, async (c) => {
    const { rows } = await c.query<{ hash: string }>(
      "SELECT hash FROM baton_blocks WHERE lane = 'main' ORDER BY height",
    );
    return rows.map((r) => r.hash);
  });
  assert.deepEqual(
    blocks.map((b) => b.hash),
    hashes.slice(0, blocks.length),
    'the stream carries the committed blocks',
  );
}

describe('the SDK across replica failures', () => {
  test('a block stream survives follower and leader kills and a drain, with no gap and no repeat', async () => {
    const { cluster, url } = await startCluster();
    const traffic = new FaucetLoad(cluster.urls, 6);
    traffic.start();
    cleanups.push(() => traffic.stop());
    const reader = follow(cluster.urls);
    await waitUntil(() => reader.blocks.length >= 3, { message: 'first blocks streamed' });

    const leader = await cluster.leader();
    const followers = cluster.local.replicas.filter((r) => r.options.id !== leader.id);
    followers[0]!.signal('SIGKILL');
    await followers[0]!.waitExit();
    let seen = reader.blocks.length;
    await waitUntil(() => reader.blocks.length >= seen + 3, { message: 'streaming after a follower kill' });

    cluster.local.replica(leader.id).signal('SIGKILL');
    await cluster.local.replica(leader.id).waitExit();
    seen = reader.blocks.length;
    await waitUntil(() => reader.blocks.length >= seen + 3, {
      timeoutMs: 20_000,
      message: 'streaming after a leader kill',
    });

    followers[0]!.start();
    await waitUntil(() => isReady(followers[0]!.url), { timeoutMs: 30_000 });
    await restart(cluster, followers[1]!.options.id); // a drain: subscribers get 1012 and move
    seen = reader.blocks.length;
    await waitUntil(() => reader.blocks.length >= seen + 3, {
      timeoutMs: 20_000,
      message: 'streaming after a drain',
    });

    await traffic.stop();
    await assertStreamMatchesLedger(url, reader.blocks);
    assert.deepEqual(traffic.failures, []);
  });

  test('a rolling restart of every replica under load: zero failed SDK requests, nothing lost', async () => {
    const { cluster, url } = await startCluster();
    const traffic = new FaucetLoad(cluster.urls, 8);
    traffic.start();
    cleanups.push(() => traffic.stop());
    const reader = follow(cluster.urls);
    await waitUntil(async () => (await tipHeight(url)) >= 3);

    for (const replica of cluster.local.replicas) {
      const before = traffic.acked.size;
      await restart(cluster, replica.options.id);
      await waitUntil(() => traffic.acked.size > before + 20, {
        message: `load continues after restarting ${replica.options.id}`,
      });
    }

    await traffic.stop();
    const ids = [...traffic.acked.keys()];
    await waitUntil(async () => (await committedCount(url, ids)) === ids.length, { timeoutMs: 30_000 });
    assert.deepEqual(traffic.failures, [], 'no SDK call failed');
    await checkLedger(url, traffic.acked);
    await assertStreamMatchesLedger(url, reader.blocks);
  });

  test('after a rolling restart, stream subscribers end up spread within ±20% of even', async () => {
    const { cluster, url } = await startCluster();
    // No load here: only heartbeats (every 5 s) arrive, so keep the SDK's default idle timeout
    // (15 s); a shorter one would make every subscriber hop replicas on its own.
    const readers = Array.from({ length: 30 }, () => follow(cluster.urls, 0, 15_000));
    const counts = async (): Promise<number[]> =>
      withClient(url, async (c) => {
        const { rows } = await c.query<{ streams: number }>(
          'SELECT streams FROM baton_replicas WHERE ready ORDER BY id',
        );
        return rows.map((r) => r.streams);
      });
    await waitUntil(async () => (await counts()).reduce((a, b) => a + b, 0) === 30, {
      message: '30 subscribers counted',
    });
    for (const replica of cluster.local.replicas) await restart(cluster, replica.options.id);

    let last: number[] = [];
    const spread = await waitUntil(
      async () => {
        const c = await counts();
        last = c;
        const even = 30 / cluster.local.replicas.length;
        const ok =
          c.length === 3 &&
          c.reduce((a, b) => a + b, 0) === 30 &&
          c.every((n) => Math.abs(n - even) <= even * 0.2);
        return ok ? c : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, message: 'subscribers within ±20% of even' },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last counts per ready replica: ${JSON.stringify(last)}`);
    });
    assert.equal(spread.length, 3);
    assert.equal(readers.length, 30);
  });
});
