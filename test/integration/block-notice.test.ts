import assert from 'node:assert/strict';
import { TOKEN_LANE } from '../helpers/blocks.js';
import { describe, test } from 'node:test';
import pg from 'pg';
import { GENESIS_PARENT } from '../../src/db/migrations.js';
import { LaneFollower } from '../../src/ledger/follower.js';
import { LedgerStore, blockFromNotice, blockNotice } from '../../src/ledger/store.js';
import { silentLogger } from '../../src/log.js';
import { waitUntil } from '../../src/wait.js';
import { usePostgresPerFile, testPool } from '../helpers/postgres.js';
import { testBlock as block } from '../helpers/blocks.js';

const file = usePostgresPerFile();

/** A fresh lane with term 1 claimed, and a listener recording [channel, payload] in arrival order. */
async function setUp() {
  const url = await file.server.database();
  const pool = testPool(url, 2);
  const listener = new pg.Client({ connectionString: url });
  file.cleanups.push(
    () => pool.end(),
    () => listener.end(),
  );
  const store = new LedgerStore(pool);
  await store.ensureLane('main', TOKEN_LANE);
  assert.equal(await store.claimTerm('main', 1), 0);
  await listener.connect();
  const heard: Array<[string, string]> = [];
  listener.on('notification', (m) => heard.push([m.channel, m.payload ?? '']));
  await listener.query('LISTEN baton_block_data; LISTEN baton_blocks');
  return { store, heard };
}

describe('blocks in their commit notification (real PostgreSQL)', () => {
  test('a small block is sent whole on baton_block_data, before its baton_blocks notice', async () => {
    const { store, heard } = await setUp();
    const b1 = block(1, 1, GENESIS_PARENT, { changes: [['balance:aa', 5]] });
    await store.commitBlock(b1);
    await waitUntil(() => heard.some(([c]) => c === 'baton_blocks'), { message: 'baton_blocks notice' });
    assert.deepEqual(
      heard.map(([c]) => c),
      ['baton_block_data', 'baton_blocks'],
    );
    assert.deepEqual(blockFromNotice(heard[0]![1]), b1);
    assert.equal(heard[1]![1], 'main:1');
  });

  test('a block too large for a notification is announced by height only', async () => {
    const { store, heard } = await setUp();
    const big = block(1, 1, GENESIS_PARENT, { changes: [['note', 'x'.repeat(9_000)]] });
    await store.commitBlock(big);
    await waitUntil(() => heard.length > 0, { message: 'a notice' });
    // The data notice would precede the height one in the same commit: none came.
    assert.deepEqual(heard, [['baton_blocks', 'main:1']]);
  });

  test('a block with too many transactions for a notification is not even serialised for one', () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => i.toString(16).padStart(64, '0'));
    assert.equal(blockNotice(block(1, 1, GENESIS_PARENT, { txs: ids(200) })), null);
    const small = block(1, 1, GENESIS_PARENT, { txs: ids(3) });
    assert.deepEqual(blockFromNotice(blockNotice(small)!), small);
  });

  test('a fenced commit sends nothing', async () => {
    const { store, heard } = await setUp();
    assert.equal(await store.claimTerm('main', 2), 0);
    await assert.rejects(store.commitBlock(block(1, 1, GENESIS_PARENT)));
    const b1 = block(2, 1, GENESIS_PARENT);
    await store.commitBlock(b1);
    await waitUntil(() => heard.some(([c]) => c === 'baton_blocks'), { message: 'baton_blocks notice' });
    assert.equal(heard.length, 2);
    assert.equal(blockFromNotice(heard[0]![1])?.term, 2);
  });

  test('a follower applies a notified block only when it is the next one and intact', async () => {
    const { store } = await setUp();
    const follower = new LaneFollower('main', store, silentLogger);
    await follower.load();
    const b1 = block(1, 1, GENESIS_PARENT, { changes: [['balance:aa', 5]] });
    const b2 = block(1, 2, b1.hash);
    follower.offerNotified(b2); // not the next block
    assert.equal(follower.height, 0);
    follower.offerNotified({ ...b1, changes: [['balance:aa', 500]] }); // content does not match its hash
    assert.equal(follower.height, 0);
    assert.equal(follower.current.get('balance:aa'), undefined);
    follower.offerNotified(b1);
    assert.equal(follower.height, 1);
    assert.equal(follower.current.get('balance:aa'), 5);
    assert.equal(blockFromNotice('not json'), null);
    assert.equal(blockFromNotice('{"lane":"main"}'), null);
  });
});
