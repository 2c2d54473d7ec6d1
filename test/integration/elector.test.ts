import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { leaseTimings, type LeaseTimings } from '../../src/coordination/elector.js';
import { PostgresElector } from '../../src/coordination/postgres.js';
import { SQLSTATE, sqlState } from '../../src/db/pool.js';
import { GENESIS_PARENT } from '../../src/db/migrations.js';
import { blockHash } from '../../src/ledger/block.js';
import { LedgerStore } from '../../src/ledger/store.js';
import { silentLogger } from '../../src/log.js';
import { usePostgresPerFile, withClient } from '../helpers/postgres.js';
import { proxied } from '../helpers/proxy.js';
import { testBlock as block } from '../helpers/blocks.js';

const file = usePostgresPerFile();
const cleanups = file.cleanups;

async function freshLane(): Promise<{ url: string; store: LedgerStore; pool: pg.Pool }> {
  const url = await file.server.database();
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  cleanups.push(() => pool.end());
  const store = new LedgerStore(pool);
  await store.ensureLane('main', 'token');
  return { url, store, pool };
}

function startElector(url: string, id: string, timings: LeaseTimings = leaseTimings(3_000)) {
  const elector = new PostgresElector({ url, replicaId: id, timings, logger: silentLogger });
  const controller = new AbortController();
  const done = elector.run(controller.signal);
  const stop = async (): Promise<void> => {
    controller.abort();
    await done;
  };
  cleanups.push(stop);
  return { elector, stop };
}

function elected(elector: PostgresElector, timeoutMs = 10_000) {
  return elector.events.waitFor('lane:elected', (e) => e.lane === 'main', AbortSignal.timeout(timeoutMs));
}

async function expectSqlState(promise: Promise<unknown>, state: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal(sqlState(error), state, `expected SQLSTATE ${state}, got ${String(error)}`);
    return true;
  });
}

describe('PostgreSQL elector', () => {
  test('terms strictly increase as leadership moves between replicas', async () => {
    const { url } = await freshLane();
    const a = startElector(url, 'a');
    const b = startElector(url, 'b');
    const terms: number[] = [];

    const first = elected(a.elector);
    a.elector.setCandidacy(['main']);
    terms.push((await first).term);

    for (let round = 0; round < 4; round++) {
      const [from, to] = round % 2 === 0 ? [a, b] : [b, a];
      const next = elected(to.elector);
      to.elector.setCandidacy(['main']);
      from.elector.setCandidacy([]);
      await from.elector.resign('main');
      terms.push((await next).term);
    }
    for (let i = 1; i < terms.length; i++) assert.ok(terms[i]! > terms[i - 1]!, `terms ${terms.join(', ')}`);
  });

  test('a leader that cannot renew stops leading before its lease expires', async () => {
    const { url } = await freshLane();
    const { proxy, viaProxy } = await proxied(url, cleanups);

    const timings = leaseTimings(1_500);
    const leader = startElector(viaProxy.toString(), 'cut-off', timings);
    const won = elected(leader.elector);
    leader.elector.setCandidacy(['main']);
    const { term } = await won;

    const lost = leader.elector.events.waitFor(
      'lane:lost',
      (e) => e.lane === 'main',
      AbortSignal.timeout(10_000),
    );
    proxy.setMode('blackhole'); // half-open: the database still sees the session alive
    const loss = await lost;
    assert.equal(loss.term, term);
    const stillValid = await withClient(url, async (c) => {
      const { rows } = await c.query<{ valid: boolean }>(
        "SELECT expires_at > clock_timestamp() AS valid FROM baton_leases WHERE lane = 'main'",
      );
      return rows[0]!.valid;
    });
    assert.equal(stillValid, true, 'the leader must stop while its lease is still valid');
    assert.equal(leader.elector.holds('main', term), false);

    // Another replica takes the lane once the lease runs out, under a newer term.
    const other = startElector(url, 'other', timings);
    const takeover = elected(other.elector);
    other.elector.setCandidacy(['main']);
    assert.ok((await takeover).term > term);
  });

  test('a dead holder session is detected without waiting for the lease to expire', async () => {
    const { url } = await freshLane();
    const { proxy, viaProxy } = await proxied(url, cleanups);

    const timings = leaseTimings(3_000);
    const doomed = startElector(viaProxy.toString(), 'doomed', timings);
    const won = elected(doomed.elector);
    doomed.elector.setCandidacy(['main']);
    const { term } = await won;

    const survivor = startElector(url, 'survivor', timings);
    survivor.elector.setCandidacy(['main']);
    const oldExpiry = await withClient(url, async (c) => {
      const { rows } = await c.query<{ e: Date }>(
        "SELECT expires_at AS e FROM baton_leases WHERE lane = 'main'",
      );
      return rows[0]!.e.getTime();
    });
    const takeover = elected(survivor.elector);
    const lost = doomed.elector.events.waitFor(
      'lane:lost',
      (e) => e.lane === 'main',
      AbortSignal.timeout(10_000),
    );
    proxy.setMode('refuse'); // the holder's connections die, as when its process is killed
    const next = await takeover;
    assert.ok(next.term > term);
    const acquiredAt = await withClient(url, async (c) => {
      const { rows } = await c.query<{ a: Date }>(
        "SELECT expires_at - make_interval(secs => $1::float8 / 1000) AS a FROM baton_leases WHERE lane = 'main'",
        [timings.ttlMs],
      );
      return rows[0]!.a.getTime();
    });
    assert.ok(acquiredAt < oldExpiry, 'the survivor must take over before the old lease would have expired');
    assert.equal((await lost).reason, 'session-lost');
  });
});

describe('fenced commits', () => {
  test('a block under a stale term is refused by the database', async () => {
    const { store } = await freshLane();
    assert.equal(await store.claimTerm('main', 1), 0, 'claimed at height 0');
    const b1 = block(1, 1, GENESIS_PARENT);
    await store.commitBlock(b1);
    assert.equal(await store.claimTerm('main', 2), 1, 'claimed at height 1, after b1');
    assert.equal(await store.claimTerm('main', 1), null, 'terms never go back');
    await expectSqlState(store.commitBlock(block(1, 2, b1.hash)), SQLSTATE.fenced);
    await store.commitBlock(block(2, 2, b1.hash));
    assert.deepEqual(
      (await store.blocksAfter('main', 0, 10)).map((b) => [b.height, b.term]),
      [
        [1, 1],
        [2, 2],
      ],
    );
  });

  test('the database refuses forks, broken chains and edits of committed blocks', async () => {
    const { store, url } = await freshLane();
    await store.claimTerm('main', 1);
    const b1 = block(1, 1, GENESIS_PARENT);
    await store.commitBlock(b1);
    const rival = { ...block(1, 1, GENESIS_PARENT), producer: 'rival' };
    await expectSqlState(store.commitBlock({ ...rival, hash: blockHash(rival) }), SQLSTATE.notOnTip);
    await expectSqlState(store.commitBlock(block(1, 2, 'f'.repeat(64))), SQLSTATE.notOnTip);
    await expectSqlState(store.commitBlock(block(1, 3, b1.hash)), SQLSTATE.notOnTip);
    await withClient(url, async (c) => {
      // Even SQL that skips the commit function cannot fork the chain or rewrite history.
      await expectSqlState(
        c.query(
          `INSERT INTO baton_blocks (lane, height, hash, parent_hash, parent_height, term, producer, time_ms, tx_ids, results, changes)
           VALUES ('main', 1, $1, $2, NULL, 1, 'sql', 0, '{}', '[]', '[]')`,
          ['e'.repeat(64), GENESIS_PARENT],
        ),
        SQLSTATE.notOnTip,
      );
      await expectSqlState(c.query("UPDATE baton_blocks SET producer = 'x' WHERE lane = 'main'"), 'BT005');
      await expectSqlState(c.query("DELETE FROM baton_blocks WHERE lane = 'main'"), 'BT005');
    });
    assert.equal((await store.blocksAfter('main', 0, 10)).length, 1);
  });

  test('a transaction can be committed in one block only', async () => {
    const { store, pool } = await freshLane();
    await store.claimTerm('main', 1);
    const id = 'a'.repeat(64);
    await pool.query(
      "INSERT INTO baton_txs (id, lane, body, signer, signature) VALUES ($1, 'main', '{}', $2, $3)",
      [id, 'b'.repeat(64), 'c'.repeat(128)],
    );
    const b1 = block(1, 1, GENESIS_PARENT, { txs: [id] });
    await store.commitBlock(b1);
    await expectSqlState(store.commitBlock(block(1, 2, b1.hash, { txs: [id] })), SQLSTATE.txNotPending);
    const unknown = block(1, 2, b1.hash, { txs: ['d'.repeat(64)] });
    await expectSqlState(store.commitBlock(unknown), SQLSTATE.txNotPending);
    assert.equal((await store.blocksAfter('main', 0, 10)).length, 1);
  });
});

describe('claims and pending reads for several lanes at once', () => {
  test('claimTerms answers each claim: its height when claimed, null under a newer term; a repeat is idempotent', async () => {
    const { store } = await freshLane();
    await store.ensureLane('b', 'token');
    await store.ensureLane('c', 'token');
    assert.equal(await store.claimTerm('c', 5), 0);
    const b1 = block(1, 1, GENESIS_PARENT);
    assert.equal(await store.claimTerm('main', 1), 0);
    await store.commitBlock(b1);
    assert.deepEqual(
      await store.claimTerms([
        { lane: 'main', term: 2 },
        { lane: 'b', term: 1 },
        { lane: 'c', term: 4 },
      ]),
      [1, 0, null],
    );
    assert.deepEqual(
      await store.claimTerms([{ lane: 'main', term: 2 }]),
      [1],
      'claiming the same term again',
    );
    assert.deepEqual(
      await store.claimTerms([
        { lane: 'b', term: 2 },
        { lane: 'b', term: 3 },
      ]),
      [null, 0],
      'one lane twice in a batch: only the newest term wins',
    );
  });

  test('pendingOf reads each lane in arrival order, up to the limit, and nothing for a lane without any', async () => {
    const { store, pool } = await freshLane();
    await store.ensureLane('b', 'token');
    const put = (id: string, lane: string) =>
      pool.query(
        "INSERT INTO baton_txs (id, lane, body, signer, signature) VALUES ($1, $2, '{}', 's', 's')",
        [id, lane],
      );
    for (const [id, lane] of [
      ['m1', 'main'],
      ['b1', 'b'],
      ['m2', 'main'],
      ['m3', 'main'],
    ] as const)
      await put(id, lane);
    const [main, b, none, again] = await store.pendingOf(['main', 'b', 'nope', 'main'], 2);
    assert.deepEqual(
      main!.map((t) => t.id),
      ['m1', 'm2'],
    );
    assert.deepEqual(
      b!.map((t) => t.id),
      ['b1'],
    );
    assert.deepEqual(none, []);
    assert.deepEqual(
      again!.map((t) => t.id),
      ['m1', 'm2'],
    );
  });
});
