import assert from 'node:assert/strict';
import { TOKEN_LANE } from '../helpers/blocks.js';
import { describe, test } from 'node:test';
import pg from 'pg';
import { leaseTimings, type LeaseTimings } from '../../src/coordination/elector.js';
import { PostgresElector, parseLeaseGrant } from '../../src/coordination/postgres.js';
import type { DedicatedConnection } from '../../src/db/dedicated.js';
import { waitUntil } from '../../src/wait.js';
import { SQLSTATE, sqlState } from '../../src/db/pool.js';
import { GENESIS_PARENT } from '../../src/db/migrations.js';
import { blockHash } from '../../src/ledger/block.js';
import { LedgerStore } from '../../src/ledger/store.js';
import { silentLogger } from '../../src/log.js';
import { usePostgresPerFile, withClient, testPool } from '../helpers/postgres.js';
import { proxied } from '../helpers/proxy.js';
import { testBlock as block } from '../helpers/blocks.js';

const file = usePostgresPerFile();
const cleanups = file.cleanups;

async function freshLane(): Promise<{ url: string; store: LedgerStore; pool: pg.Pool }> {
  const url = await file.server.database();
  const pool = testPool(url, 4);
  cleanups.push(() => pool.end());
  const store = new LedgerStore(pool);
  await store.ensureLane('main', TOKEN_LANE);
  return { url, store, pool };
}

function startElector(
  url: string,
  id: string,
  timings: LeaseTimings = leaseTimings(3_000),
  onSession?: (conn: DedicatedConnection) => Promise<void>,
) {
  const elector = new PostgresElector({ url, replicaId: id, timings, logger: silentLogger, onSession });
  const controller = new AbortController();
  const done = elector.run(controller.signal);
  const stop = async (): Promise<void> => {
    controller.abort();
    await done;
  };
  cleanups.push(stop);
  return { elector, stop };
}

/** Records the elector session as a replica's, as the replica registry does: a lease can then be handed to it. */
function registerAs(id: string) {
  return async (conn: DedicatedConnection): Promise<void> => {
    await conn.query(
      `INSERT INTO baton_replicas (id, instance, url, pid, version, session_pid, session_started)
       VALUES ($1, 'test', 'http://127.0.0.1:1', 1, 'test', pg_backend_pid(),
               (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()))
       ON CONFLICT (id) DO UPDATE SET session_pid = EXCLUDED.session_pid, session_started = EXCLUDED.session_started`,
      [id],
    );
  };
}

/** Passes lease notices for `id` to its elector, as a replica's listener does. */
async function forwardGrants(url: string, id: string, elector: PostgresElector): Promise<void> {
  const listener = new pg.Client({ connectionString: url });
  await listener.connect();
  cleanups.push(() => listener.end());
  listener.on('notification', (msg) => {
    const grant = parseLeaseGrant(msg.payload ?? '');
    if (grant?.to === id) elector.granted(grant.lane, grant.term);
  });
  await listener.query('LISTEN baton_leases');
}

async function leaseRow(url: string) {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ holder: string | null; term: string; reserved_for: string | null }>(
      "SELECT holder, term, reserved_for FROM baton_leases WHERE lane = 'main'",
    );
    return { holder: rows[0]!.holder, term: Number(rows[0]!.term), reservedFor: rows[0]!.reserved_for };
  });
}

function elected(elector: PostgresElector, timeoutMs = 10_000) {
  return elector.events.waitFor('lane:elected', (e) => e.lane === 'main', AbortSignal.timeout(timeoutMs));
}

/** A fresh lane led by elector `a` (the only candidate), and the term it won. */
async function ledByA() {
  const { url } = await freshLane();
  const a = startElector(url, 'a');
  const won = elected(a.elector);
  a.elector.setCandidacy(['main']);
  const { term } = await won;
  return { url, a, term };
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

  test('resignTerm gives a lane up only under the term it names', async () => {
    const { url, a, term } = await ledByA();
    await a.elector.resignTerm('main', term - 1);
    assert.equal(a.elector.holds('main', term), true, 'an older term leaves the lease alone');
    assert.equal((await leaseRow(url)).holder, 'a');
    a.elector.setCandidacy([]);
    await a.elector.resignTerm('main', term);
    assert.equal(a.elector.holds('main', term), false);
    assert.equal((await leaseRow(url)).holder, null);
  });

  test('a leader that cannot renew stops leading before its lease expires', async () => {
    const { url } = await freshLane();
    const { proxy, viaProxy } = await proxied(url, cleanups);

    const timings = leaseTimings(1_500);
    const leader = startElector(viaProxy.toString(), 'cut-off', timings);
    const won = elected(leader.elector);
    leader.elector.setCandidacy(['main']);
    const { term } = await won;

    let lostAt = 0; // taken as the event fires: the check below may run later on a busy machine
    const stopTiming = leader.elector.events.on('lane:lost', (e) => {
      if (e.lane === 'main') lostAt ||= Date.now();
    });
    const lost = leader.elector.events.waitFor(
      'lane:lost',
      (e) => e.lane === 'main',
      AbortSignal.timeout(10_000),
    );
    proxy.setMode('blackhole'); // half-open: the database still sees the session alive
    const loss = await lost;
    stopTiming();
    assert.equal(loss.term, term);
    // The database runs on this host, so its clock and Date.now() are the same clock.
    const expiresAt = await withClient(url, async (c) => {
      const { rows } = await c.query<{ ms: string }>(
        "SELECT (extract(epoch FROM expires_at) * 1000)::bigint AS ms FROM baton_leases WHERE lane = 'main'",
      );
      return Number(rows[0]!.ms);
    });
    assert.ok(
      lostAt < expiresAt,
      `the leader must stop while its lease is still valid (stopped ${lostAt - expiresAt} ms after it expired)`,
    );
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

describe('handing a lease over', () => {
  // The successor only acquires when woken, so every step below is its reaction to the handover.
  const sleepy = leaseTimings(3_000, { acquireIntervalMs: 60_000 });

  async function leaderAndSuccessor(successorCampaigns: boolean) {
    const { url, a, term } = await ledByA();
    const b = startElector(url, 'b', sleepy, registerAs('b'));
    await b.elector.events.waitFor('session:up', () => true, AbortSignal.timeout(10_000));
    if (successorCampaigns) b.elector.setCandidacy(['main']);
    await forwardGrants(url, 'b', b.elector);
    return { url, a, b, term };
  }

  test("goes straight to the successor's session under the next term, confirmed by the successor", async () => {
    const { url, a, b, term } = await leaderAndSuccessor(true);
    const before = b.elector.queryCounts();
    const granted = b.elector.events.waitFor('lane:granted', () => true, AbortSignal.timeout(10_000));
    const next = elected(b.elector);
    await a.elector.resign('main', 'b');

    assert.deepEqual(await granted, { lane: 'main', term: term + 1 });
    assert.deepEqual(await next, { lane: 'main', term: term + 1 });
    assert.equal(b.elector.holds('main', term + 1), true);
    const after = b.elector.queryCounts();
    assert.equal(after.acquire, before.acquire, 'no acquire query: the lease was handed over');
    assert.equal(after.renew, before.renew + 1, 'one renewal confirms the lease');
    assert.deepEqual(await leaseRow(url), { holder: 'b', term: term + 1, reservedFor: null });
    assert.equal(a.elector.holds('main', term), false);
  });

  test('a lease handed to a replica that does not campaign for the lane is released at once', async () => {
    const { url, a, b, term } = await leaderAndSuccessor(false);
    let electedB = false;
    b.elector.events.on('lane:elected', () => (electedB = true));
    a.elector.setCandidacy([]);
    await a.elector.resign('main', 'b');
    await waitUntil(async () => (await leaseRow(url)).holder === null, {
      timeoutMs: 10_000,
      intervalMs: 10,
      message: 'lease released by b',
    });
    assert.equal(electedB, false);
    const c = startElector(url, 'c');
    const next = elected(c.elector);
    c.elector.setCandidacy(['main']);
    assert.ok((await next).term > term + 1);
  });

  test('a successor that misses the notice still takes the lane on its own', async () => {
    const { url, a, term } = await ledByA();
    const b = startElector(url, 'b', leaseTimings(3_000), registerAs('b'));
    await b.elector.events.waitFor('session:up', () => true, AbortSignal.timeout(10_000));
    b.elector.setCandidacy(['main']);
    const next = elected(b.elector);
    await a.elector.resign('main', 'b');
    assert.ok((await next).term > term);
    assert.equal((await leaseRow(url)).holder, 'b');
  });

  test('a lease for a successor that is not live is released and kept for it', async () => {
    const { url, a, term } = await ledByA();
    await a.elector.resign('main', 'gone');
    assert.deepEqual(await leaseRow(url), { holder: null, term, reservedFor: 'gone' });
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
          `INSERT INTO baton_blocks (lane, height, hash, parent_hash, parent_height, term, producer, time_ms, tx_ids, results, changes, version)
           VALUES ('main', 1, $1, $2, NULL, 1, 'sql', 0, '{}', '[]', '[]', '1.0.0')`,
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
    await store.ensureLane('b', TOKEN_LANE);
    await store.ensureLane('c', TOKEN_LANE);
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
    await store.ensureLane('b', TOKEN_LANE);
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
