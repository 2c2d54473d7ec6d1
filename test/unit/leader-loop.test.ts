import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenApp } from '../../src/apps/token.js';
import { AppRunner } from '../../src/apps/runner.js';
import { GENESIS_PARENT } from '../../src/db/migrations.js';
import { TypedEvents } from '../../src/events.js';
import { LaneFollower } from '../../src/ledger/follower.js';
import { DEFAULT_LEADER_LIMITS, runLeader, type LeaderEvents } from '../../src/ledger/leader.js';
import type { LedgerStore, PendingTx } from '../../src/ledger/store.js';
import { silentLogger } from '../../src/log.js';
import { Waker } from '../../src/waker.js';

/** A mempool in memory: the leader loop's reads and commits, counted. */
class FakeStore {
  readonly mempool: PendingTx[] = [];
  reads = 0;
  commits = 0;
  /** Runs inside each commit, as if a transaction arrived meanwhile. */
  duringCommit: (() => void) | null = null;
  private nonce = 0;

  add(): void {
    const nonce = ++this.nonce;
    const body = JSON.stringify({
      lane: 'main',
      from: 'a'.repeat(64),
      kind: 'faucet',
      args: { amount: 1 },
      nonce,
    });
    this.mempool.push({ id: nonce.toString(16).padStart(64, '0'), body });
  }

  snapshot() {
    return Promise.resolve({ height: 0, tipHash: GENESIS_PARENT, tipTime: 0, entries: [] });
  }

  pending(_lane: string, limit: number): Promise<PendingTx[]> {
    this.reads++;
    return Promise.resolve(this.mempool.slice(0, limit));
  }

  async commitBlock(block: { txs: string[] }): Promise<void> {
    this.commits++;
    this.duringCommit?.();
    await Promise.resolve();
    const ids = new Set(block.txs);
    this.mempool.splice(0, this.mempool.length, ...this.mempool.filter((t) => !ids.has(t.id)));
  }
}

async function startLoop(maxBlockTxs = 10) {
  const fake = new FakeStore();
  const store = fake as unknown as LedgerStore;
  const follower = new LaneFollower('main', store, silentLogger);
  await follower.load();
  const waker = new Waker();
  const events = new TypedEvents<LeaderEvents>();
  const controller = new AbortController();
  // A missed wake-up would leave the loop waiting this long: far beyond any test's deadline.
  const limits = { ...DEFAULT_LEADER_LIMITS, maxBlockTxs, idleWaitMs: 60_000 };
  const done = runLeader(
    {
      lane: 'main',
      term: 1,
      producer: 'r1',
      code: { app: () => tokenApp, approvers: [], quorum: 0, proposedVersion: null },
      runner: new AppRunner(),
      store,
      follower,
      waker,
      limits,
      logger: silentLogger,
      events,
      stillLeads: () => true,
      claimedHeight: 0,
    },
    controller.signal,
  );
  const committed = (height: number) =>
    events.waitFor('block:committed', (e) => e.height === height, AbortSignal.timeout(5_000));
  const stop = async () => {
    controller.abort();
    return done;
  };
  return { fake, waker, committed, stop };
}

test('after a block that took every pending transaction, the leader waits for a new one instead of reading again', async () => {
  const { fake, waker, committed, stop } = await startLoop();
  try {
    fake.add();
    const first = committed(1);
    waker.wake();
    await first;
    // Let the loop run on as far as it would without a wake-up.
    await new Promise((resolve) => setImmediate(resolve));
    // The first read found nothing yet, the second made block 1; none after it.
    assert.equal(fake.reads, 2, 'no read between blocks while nothing new arrived');

    fake.add();
    const second = committed(2);
    waker.wake();
    assert.equal((await second).txs, 1);
    assert.equal(fake.reads, 3);
  } finally {
    assert.equal(await stop(), 'stopped');
  }
});

test('a transaction that arrives during a commit goes into the next block at once', async () => {
  const { fake, waker, committed, stop } = await startLoop();
  try {
    fake.duringCommit = () => {
      fake.duringCommit = null;
      fake.add();
      waker.wake();
    };
    fake.add();
    const second = committed(2);
    waker.wake();
    assert.equal((await second).txs, 1);
  } finally {
    await stop();
  }
});

test('a read that filled a block is followed by another read without waiting', async () => {
  const { fake, waker, committed, stop } = await startLoop(2);
  try {
    for (let i = 0; i < 5; i++) fake.add();
    const third = committed(3);
    waker.wake();
    assert.equal((await third).txs, 1);
    assert.equal(fake.mempool.length, 0);
  } finally {
    await stop();
  }
});
