import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import pg from 'pg';
import { SQLSTATE, sqlState } from '../../src/db/pool.js';
import { GENESIS_PARENT, migrate } from '../../src/db/migrations.js';
import { blockHash, type BlockRecord, type TxResult } from '../../src/ledger/block.js';
import { canonicalJson, sha256Hex } from '../../src/ledger/canonical.js';
import { LedgerStore } from '../../src/ledger/store.js';
import { waitUntil } from '../../src/wait.js';
import { TOKEN_LANE } from '../helpers/blocks.js';
import { testPool, usePostgresPerFile, withClient } from '../helpers/postgres.js';

const file = usePostgresPerFile();
const cleanups = file.cleanups;

interface BlockOptions {
  lane?: string;
  version?: string | null;
  upgrade?: string;
  txs?: string[];
  results?: TxResult[];
  changes?: BlockRecord['changes'];
}

/** A hashed block (v2 rule with a version, v1 without), every transaction ok unless told. */
function makeBlock(
  term: number,
  height: number,
  parentHash: string,
  options: BlockOptions = {},
): BlockRecord {
  const txs = options.txs ?? [];
  const unhashed = {
    lane: options.lane ?? 'main',
    height,
    parentHash,
    term,
    producer: 'test',
    time: new Date(1_700_000_000_000 + height).toISOString(),
    version: options.version === undefined ? TOKEN_LANE.version : options.version,
    ...(options.upgrade !== undefined ? { upgrade: options.upgrade } : {}),
    txs,
    results: options.results ?? txs.map(() => ({ ok: true as const })),
    changes: options.changes ?? [],
  };
  return { ...unhashed, hash: blockHash(unhashed) };
}

/** The hash rule of the previous build (before versions), written out independently of block.ts. */
function previousBuildHash(block: BlockRecord): string {
  return sha256Hex(
    canonicalJson({
      v: 1,
      lane: block.lane,
      height: block.height,
      parentHash: block.parentHash,
      term: block.term,
      producer: block.producer,
      time: block.time,
      txs: block.txs,
      results: block.results.map((r) => (r.ok ? [true] : [false, r.error])),
      changes: block.changes,
    }),
  );
}

/** A block as a replica of the previous build makes it: no version, the v1 hash. */
function legacyBlock(
  term: number,
  height: number,
  parentHash: string,
  options: BlockOptions = {},
): BlockRecord {
  const block = makeBlock(term, height, parentHash, { ...options, version: null });
  assert.equal(
    block.hash,
    previousBuildHash(block),
    'blockHash keeps the v1 rule for blocks without a version',
  );
  return block;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Commits `block` exactly as LedgerStore.commitBlock of the previous build did (commit 8f8c76c^). */
async function commitLikePreviousBuild(db: Queryable, block: BlockRecord): Promise<void> {
  const { version: _version, upgrade: _upgrade, ...previousShape } = block;
  await db.query('SELECT baton_commit_block($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)', [
    block.lane,
    block.height,
    block.hash,
    block.parentHash,
    block.term,
    block.producer,
    Date.parse(block.time),
    block.txs,
    block.results.map((r) => r.ok),
    block.results.map((r) => (r.ok ? null : r.error)),
    JSON.stringify(block.results.map((r) => (r.ok ? [true] : [false, r.error]))),
    JSON.stringify(block.changes),
    JSON.stringify(previousShape),
  ]);
}

/** Creates a lane as the previous build's ensureLane did: no version column in its INSERT. */
async function createLaneLikePreviousBuild(db: Queryable, lane: string): Promise<void> {
  await db.query(
    `WITH l AS (INSERT INTO baton_lanes (lane, app) VALUES ($1, 'token') ON CONFLICT (lane) DO NOTHING RETURNING app)
     INSERT INTO baton_leases (lane) VALUES ($1) ON CONFLICT (lane) DO NOTHING`,
    [lane],
  );
}

async function expectSqlState(promise: Promise<unknown>, state: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal(sqlState(error), state, `expected SQLSTATE ${state}, got ${String(error)}`);
    return true;
  });
}

async function freshDatabase(): Promise<{ url: string; pool: pg.Pool; store: LedgerStore }> {
  const url = await file.server.database();
  const pool = testPool(url, 6);
  cleanups.push(() => pool.end());
  return { url, pool, store: new LedgerStore(pool) };
}

async function freshLane(spec = TOKEN_LANE) {
  const db = await freshDatabase();
  await db.store.ensureLane('main', spec);
  assert.equal(await db.store.claimTerm('main', 1), 0);
  return db;
}

/** Commits `count` blocks of `version` on the tip; returns the last. */
async function commitChain(
  store: LedgerStore,
  from: { height: number; hash: string } | null,
  count: number,
  options: BlockOptions = {},
): Promise<BlockRecord> {
  let tip = from;
  let last: BlockRecord | undefined;
  for (let i = 0; i < count; i++) {
    last = makeBlock(1, (tip?.height ?? 0) + 1, tip?.hash ?? GENESIS_PARENT, options);
    await store.commitBlock(last);
    tip = last;
  }
  assert.ok(last);
  return last;
}

async function verifyChain(store: LedgerStore, lane = 'main'): Promise<BlockRecord[]> {
  const blocks = await store.blocksAfter(lane, 0, 1_000);
  let parent = GENESIS_PARENT;
  for (const b of blocks) {
    const { hash, ...rest } = b;
    assert.equal(blockHash(rest), hash, `block ${b.height} of ${lane} verifies as read back`);
    assert.equal(b.parentHash, parent, `block ${b.height} of ${lane} chains on its parent`);
    parent = hash;
  }
  return blocks;
}

describe('the fence checks app versions', () => {
  test('refuses a block whose version is not the lane’s active version (BT006), changing nothing', async () => {
    const { store } = await freshLane();
    const b1 = makeBlock(1, 1, GENESIS_PARENT);
    await store.commitBlock(b1);
    await expectSqlState(
      store.commitBlock(makeBlock(1, 2, b1.hash, { version: '2.0.0' })),
      SQLSTATE.wrongVersion,
    );
    await expectSqlState(
      store.commitBlock(makeBlock(1, 2, b1.hash, { version: '1.0.0-rc.1' })),
      SQLSTATE.wrongVersion,
    );
    const lane = await store.lane('main');
    assert.equal(lane?.height, 1);
    assert.equal(lane?.version, '1.0.0');
    await store.commitBlock(makeBlock(1, 2, b1.hash));
    assert.equal(await store.laneHeight('main'), 2);
  });

  test('refuses a block without a version on a lane that has one, like a stale leader (BT001)', async () => {
    const { store, pool } = await freshLane();
    const b1 = makeBlock(1, 1, GENESIS_PARENT);
    await store.commitBlock(b1);
    await expectSqlState(store.commitBlock(legacyBlock(1, 2, b1.hash)), SQLSTATE.fenced);
    await expectSqlState(commitLikePreviousBuild(pool, legacyBlock(1, 2, b1.hash)), SQLSTATE.fenced);
    assert.equal(await store.laneHeight('main'), 1);
  });

  test('refuses a block that switches to a version nobody proposed (BT007)', async () => {
    const { store } = await freshLane();
    const b1 = makeBlock(1, 1, GENESIS_PARENT);
    await store.commitBlock(b1);
    await expectSqlState(
      store.commitBlock(makeBlock(1, 2, b1.hash, { upgrade: '2.0.0' })),
      SQLSTATE.notProposed,
    );
    assert.equal(await store.proposeUpgrade('main', '3.0.0'), true);
    await expectSqlState(
      store.commitBlock(makeBlock(1, 2, b1.hash, { upgrade: '2.0.0' })),
      SQLSTATE.notProposed,
    );
    const lane = await store.lane('main');
    assert.equal(lane?.height, 1);
    assert.equal(lane?.version, '1.0.0');
    assert.equal(lane?.proposedVersion, '3.0.0', 'a refused switch leaves the proposal');
  });

  test('checks the term before the version: a stale leader is fenced (BT001) whatever its version', async () => {
    const { store } = await freshLane();
    const b1 = makeBlock(1, 1, GENESIS_PARENT);
    await store.commitBlock(b1);
    assert.equal(await store.claimTerm('main', 2), 1);
    await expectSqlState(store.commitBlock(makeBlock(1, 2, b1.hash, { version: '2.0.0' })), SQLSTATE.fenced);
  });

  test('switches the lane with a proposed upgrade: later blocks must be of the new version', async () => {
    const { store, url } = await freshLane();
    assert.equal(await store.proposeUpgrade('main', '1.0.0'), false, 'the lane already runs 1.0.0');
    const b2 = await commitChain(store, null, 2);
    assert.equal(await store.proposeUpgrade('main', '2.0.0'), true);
    assert.equal((await store.lane('main'))?.proposedVersion, '2.0.0');

    const h = 3;
    const upgrade = makeBlock(1, h, b2.hash, { upgrade: '2.0.0' });
    await store.commitBlock(upgrade);
    const lane = await store.lane('main');
    assert.equal(lane?.version, '2.0.0');
    assert.equal(lane?.proposedVersion, null);
    assert.deepEqual(await store.versions('main'), [{ version: '1.0.0', firstHeight: 1, lastHeight: h }]);

    await expectSqlState(store.commitBlock(makeBlock(1, h + 1, upgrade.hash)), SQLSTATE.wrongVersion);
    await expectSqlState(
      store.commitBlock(makeBlock(1, h + 1, upgrade.hash, { version: '2.0.0', upgrade: '2.0.0' })),
      SQLSTATE.notProposed,
    );
    const next = makeBlock(1, h + 1, upgrade.hash, { version: '2.0.0' });
    await store.commitBlock(next);
    assert.deepEqual(await store.versions('main'), [
      { version: '1.0.0', firstHeight: 1, lastHeight: h },
      { version: '2.0.0', firstHeight: h + 1, lastHeight: h + 1 },
    ]);
    await commitChain(store, next, 2, { version: '2.0.0' });
    assert.deepEqual(await store.versions('main'), [
      { version: '1.0.0', firstHeight: 1, lastHeight: h },
      { version: '2.0.0', firstHeight: h + 1, lastHeight: h + 3 },
    ]);

    const blocks = await verifyChain(store);
    assert.deepEqual(
      blocks.map((b) => [b.height, b.version, b.upgrade ?? null]),
      [
        [1, '1.0.0', null],
        [2, '1.0.0', null],
        [3, '1.0.0', '2.0.0'],
        [4, '2.0.0', null],
        [5, '2.0.0', null],
        [6, '2.0.0', null],
      ],
    );
    await withClient(url, async (c) => {
      const { rows } = await c.query<{ n: string }>(
        "SELECT count(*) AS n FROM baton_blocks WHERE lane = 'main' AND upgrade IS NOT NULL",
      );
      assert.equal(Number(rows[0]!.n), 1);
    });
  });

  test('switches a lane twice and back, and versions() lists each stretch', async () => {
    const { store } = await freshLane();
    let tip = await commitChain(store, null, 1);
    for (const [from, to] of [
      ['1.0.0', '2.0.0'],
      ['2.0.0', '1.0.0'],
    ] as const) {
      assert.equal(await store.proposeUpgrade('main', to), true);
      const switching = makeBlock(1, tip.height + 1, tip.hash, { version: from, upgrade: to });
      await store.commitBlock(switching);
      tip = await commitChain(store, switching, 1, { version: to });
    }
    assert.deepEqual(await store.versions('main'), [
      { version: '1.0.0', firstHeight: 1, lastHeight: 2 },
      { version: '2.0.0', firstHeight: 3, lastHeight: 4 },
      { version: '1.0.0', firstHeight: 5, lastHeight: 5 },
    ]);
    await verifyChain(store);
  });

  test('stores what the app returned in the receipt', async () => {
    const { store } = await freshLane();
    const ids = ['1', '2', '3'].map((c) => c.repeat(64));
    await store.intake(
      ids.map((id) => ({
        id,
        lane: 'main',
        body: '{}',
        signer: 'b'.repeat(64),
        signature: 'c'.repeat(128),
        tx: { lane: 'main', from: 'b'.repeat(64), kind: 'k', args: null, nonce: 1 },
      })),
    );
    const results: TxResult[] = [
      { ok: true, result: { balance: 5, list: [1, 'two'] } },
      { ok: true },
      { ok: false, error: 'insufficient_funds' },
    ];
    const b1 = makeBlock(1, 1, GENESIS_PARENT, { txs: ids, results });
    await store.commitBlock(b1);
    const statuses = await store.txStatuses('main', ids);
    assert.deepEqual(statuses.get(ids[0]!), {
      id: ids[0],
      status: 'committed',
      height: 1,
      index: 0,
      ok: true,
      result: { balance: 5, list: [1, 'two'] },
    });
    assert.deepEqual(statuses.get(ids[1]!), {
      id: ids[1],
      status: 'committed',
      height: 1,
      index: 1,
      ok: true,
    });
    assert.deepEqual(statuses.get(ids[2]!), {
      id: ids[2],
      status: 'committed',
      height: 1,
      index: 2,
      ok: false,
      error: 'insufficient_funds',
    });
    const [read] = await verifyChain(store);
    assert.deepEqual(read?.results, results);
  });
});

describe('replicas of the previous build during the upgrade to versions', () => {
  test('a lane from before versions takes old commits (concurrently with new ones), until the first versioned block fences them (BT001)', async () => {
    const { store, pool } = await freshDatabase();
    await createLaneLikePreviousBuild(pool, 'old');
    await store.ensureLane('main', TOKEN_LANE);
    assert.deepEqual(
      await store.claimTerms([
        { lane: 'old', term: 1 },
        { lane: 'main', term: 1 },
      ]),
      [0, 0],
    );
    const before = await store.lane('old');
    assert.equal(before?.version, null, 'a lane created the old way has no version');

    // (a) An old replica commits through the previous build's 13-argument function while a new
    // replica commits on another lane, and while a rival old replica races it on the same lane.
    const rounds = 12;
    const oldReplica = (async () => {
      let parent = GENESIS_PARENT;
      for (let height = 1; height <= rounds; height++) {
        const b = legacyBlock(1, height, parent, { lane: 'old', changes: [[`k${height}`, height]] });
        const rival = legacyBlock(1, height, parent, { lane: 'old', changes: [['rival', height]] });
        const outcomes = await Promise.allSettled([
          commitLikePreviousBuild(pool, b),
          commitLikePreviousBuild(pool, rival),
        ]);
        const won = outcomes.findIndex((o) => o.status === 'fulfilled');
        assert.notEqual(won, -1, `one of the two commits of height ${height} wins`);
        const lost = outcomes[1 - won]!;
        assert.equal(lost.status, 'rejected', `only one block per height (${height})`);
        assert.equal(sqlState(lost.reason), SQLSTATE.notOnTip);
        parent = (won === 0 ? b : rival).hash;
      }
      return parent;
    })();
    const newReplica = commitChain(store, null, rounds, { lane: 'main' });
    const [oldTip, newTip] = await Promise.all([oldReplica, newReplica]);
    assert.equal(newTip.height, rounds);
    const during = await store.lane('old');
    assert.equal(during?.height, rounds);
    assert.equal(during?.version, null, 'blocks without a version leave the lane without one');

    // (b) The first block with a version, through the new function, sets the lane's version.
    const first = makeBlock(1, rounds + 1, oldTip, { lane: 'old' });
    await store.commitBlock(first);
    const after = await store.lane('old');
    assert.equal(after?.version, TOKEN_LANE.version);
    assert.equal(after?.height, rounds + 1);

    // (c) From then on an old replica is refused like a fenced leader, through either function.
    await expectSqlState(
      commitLikePreviousBuild(pool, legacyBlock(1, rounds + 2, first.hash, { lane: 'old' })),
      SQLSTATE.fenced,
    );
    await expectSqlState(
      store.commitBlock(legacyBlock(1, rounds + 2, first.hash, { lane: 'old' })),
      SQLSTATE.fenced,
    );
    await store.commitBlock(makeBlock(1, rounds + 2, first.hash, { lane: 'old' }));

    // Read back: legacy rows verify with the v1 rule, the new ones with v2.
    const blocks = await verifyChain(store, 'old');
    assert.equal(blocks.length, rounds + 2);
    for (const b of blocks.slice(0, rounds)) {
      assert.equal(b.version, null);
      assert.equal('upgrade' in b, false);
      assert.equal(b.hash, previousBuildHash(b), `legacy block ${b.height} keeps its v1 hash`);
    }
    for (const b of blocks.slice(rounds)) {
      assert.equal(b.version, TOKEN_LANE.version);
      assert.notEqual(b.hash, previousBuildHash(b), `block ${b.height} is hashed under v2`);
    }
    assert.deepEqual(await store.versions('old'), [
      { version: null, firstHeight: 1, lastHeight: rounds },
      { version: TOKEN_LANE.version, firstHeight: rounds + 1, lastHeight: rounds + 2 },
    ]);
    assert.deepEqual(await store.versions('main'), [
      { version: TOKEN_LANE.version, firstHeight: 1, lastHeight: rounds },
    ]);
    await verifyChain(store, 'main');
    // The state the old commits wrote is there, as a new replica reads it.
    const snapshot = await store.snapshot('old');
    assert.equal(snapshot.version, TOKEN_LANE.version);
    assert.equal(snapshot.height, rounds + 2);
    assert.equal(snapshot.entries.length > 0, true);
  });

  test('an upgrade proposed on a lane from before versions switches it with the first versioned block', async () => {
    const { store, pool } = await freshDatabase();
    await createLaneLikePreviousBuild(pool, 'old');
    assert.equal(await store.claimTerm('old', 1), 0);
    const b1 = legacyBlock(1, 1, GENESIS_PARENT, { lane: 'old' });
    await commitLikePreviousBuild(pool, b1);
    assert.equal(await store.proposeUpgrade('old', '2.0.0'), true);
    // An old replica, which knows nothing of proposals, still commits.
    const b2 = legacyBlock(1, 2, b1.hash, { lane: 'old' });
    await commitLikePreviousBuild(pool, b2);
    const switching = makeBlock(1, 3, b2.hash, { lane: 'old', upgrade: '2.0.0' });
    await store.commitBlock(switching);
    const lane = await store.lane('old');
    assert.equal(lane?.version, '2.0.0');
    assert.equal(lane?.proposedVersion, null);
    await expectSqlState(
      store.commitBlock(makeBlock(1, 4, switching.hash, { lane: 'old' })),
      SQLSTATE.wrongVersion,
    );
    await store.commitBlock(makeBlock(1, 4, switching.hash, { lane: 'old', version: '2.0.0' }));
    assert.deepEqual(await store.versions('old'), [
      { version: null, firstHeight: 1, lastHeight: 2 },
      { version: '1.0.0', firstHeight: 3, lastHeight: 3 },
      { version: '2.0.0', firstHeight: 4, lastHeight: 4 },
    ]);
    await verifyChain(store, 'old');
  });
});

/**
 * The previous build's migrations (1..5): the migration list of src/db/migrations.ts is not
 * exported, so this loads a copy of that module with the list exported and takes all but the
 * last one. The copy is checked to be what the test expects (six migrations, the sixth adding
 * versions), so a change of that file fails here loudly rather than testing something else.
 */
async function previousMigrations(): Promise<{ before: readonly string[]; sixth: string }> {
  const source = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'db', 'migrations.ts');
  const text = await readFile(source, 'utf8');
  const declaration = 'const MIGRATIONS: readonly string[] = [';
  assert.ok(text.includes(declaration), `src/db/migrations.ts declares ${declaration}`);
  const dir = await mkdtemp(join(tmpdir(), 'baton-migrations-'));
  try {
    const copy = join(dir, 'migrations-copy.ts');
    await writeFile(copy, text.replace(declaration, `export ${declaration}`));
    const mod = (await import(pathToFileURL(copy).href)) as { MIGRATIONS: readonly string[] };
    const list = mod.MIGRATIONS;
    assert.equal(list.length, 6, 'this test is about migration 6 (app versions) applied over 1..5');
    assert.match(list[5]!, /baton_commit_versioned_block/);
    for (const m of list.slice(0, 5)) assert.doesNotMatch(m, /version text|baton_commit_versioned_block/);
    return { before: list.slice(0, 5), sixth: list[5]! };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

let schemaCounter = 0;

/** A database at schema version 5, as the previous build left it. */
async function databaseAtVersion5(): Promise<string> {
  const { before } = await previousMigrations();
  schemaCounter++;
  const url = await file.server.server.createDatabase(`v5_${process.pid}_${schemaCounter}`);
  await withClient(url, async (c) => {
    await c.query('BEGIN');
    await c.query(
      'CREATE TABLE IF NOT EXISTS baton_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    for (let version = 1; version <= before.length; version++) {
      await c.query(before[version - 1]!);
      await c.query('INSERT INTO baton_migrations (version) VALUES ($1)', [version]);
    }
    await c.query('COMMIT');
  });
  return url;
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  cleanups.push(() => client.end());
  return client;
}

async function backendPid(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return rows[0]!.pid;
}

/** Waits until the backend `pid` is blocked on a lock (polling pg_stat_activity, no fixed sleep). */
async function blockedOnLock(observer: pg.Client, pid: number, what: string): Promise<void> {
  await waitUntil(
    async () => {
      const { rows } = await observer.query<{ wait: string | null }>(
        'SELECT wait_event_type AS wait FROM pg_stat_activity WHERE pid = $1',
        [pid],
      );
      return rows[0]?.wait === 'Lock';
    },
    { timeoutMs: 10_000, message: `${what} waits for a lock` },
  );
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

function why(outcome: Settled<unknown>): string {
  return outcome.ok ? '' : `${String(outcome.error)} (SQLSTATE ${sqlState(outcome.error) ?? 'none'})`;
}

/**
 * A database of the previous build with lane `main` (three old blocks), on which a new replica
 * migrates while a transaction of `holder` holds the lane table and an old replica's commit
 * arrives while the migration waits for it. Answers how the migration and that commit ended,
 * then checks that the old build keeps committing and is fenced by the first versioned block.
 */
async function migrateWhileOldReplicasCommit(holder: 'commit' | 'snapshot', patientOldCommit: boolean) {
  const url = await databaseAtVersion5();
  const observer = await connect(url);
  const oldLeader = await connect(url);
  const otherOld = await connect(url);
  const reader = await connect(url);
  const upgrader = await connect(url);
  // Asked now: a client runs its queries one after the other, so not while it waits for a lock.
  const upgraderPid = await backendPid(upgrader);
  const otherOldPid = await backendPid(otherOld);
  if (patientOldCommit) {
    // Deadlock detection runs once per wait, deadlock_timeout after it began: an old commit that
    // began waiting longer ago than that was checked before any cycle existed. This stands in
    // for a holder that keeps the lane table for longer than deadlock_timeout (1 s), without
    // a test that sleeps for it.
    await otherOld.query("SET deadlock_timeout = '10min'");
  }

  await createLaneLikePreviousBuild(observer, 'main');
  await observer.query("UPDATE baton_lanes SET term = 1 WHERE lane = 'main'");
  let tip = { height: 0, hash: GENESIS_PARENT };
  for (let i = 0; i < 3; i++) {
    const b = legacyBlock(1, tip.height + 1, tip.hash, { changes: [['n', tip.height + 1]] });
    await commitLikePreviousBuild(oldLeader, b);
    tip = b;
  }

  let release: () => Promise<unknown>;
  if (holder === 'commit') {
    // An old leader's commit is in flight (its transaction holds the lane row).
    const inFlight = legacyBlock(1, tip.height + 1, tip.hash, { changes: [['n', tip.height + 1]] });
    await oldLeader.query('BEGIN');
    await commitLikePreviousBuild(oldLeader, inFlight);
    tip = inFlight;
    release = () => oldLeader.query('COMMIT');
  } else {
    // A replica loads the lane's state in one snapshot, as LedgerStore.snapshot does.
    await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await reader.query("SELECT height, tip_hash, tip_time FROM baton_lanes WHERE lane = 'main'");
    await reader.query("SELECT key, value FROM baton_state WHERE lane = 'main'");
    release = () => reader.query('COMMIT');
  }
  const migrated = settle(migrate(upgrader));
  await blockedOnLock(observer, upgraderPid, 'the migration');
  const queued = legacyBlock(1, tip.height + 1, tip.hash, { changes: [['n', tip.height + 1]] });
  const queuedCommit = settle(commitLikePreviousBuild(otherOld, queued));
  await blockedOnLock(observer, otherOldPid, 'the old replica’s commit');
  await release();
  const [migration, oldCommit] = await Promise.all([migrated, queuedCommit]);
  assert.ok(
    migration.ok,
    `the migration must not fail because old replicas commit meanwhile: ${why(migration)}`,
  );
  assert.equal(migration.value, 1, 'only migration 6 was pending');
  assert.ok(
    oldCommit.ok,
    `an old replica's commit must not fail because the schema changes meanwhile: ${why(oldCommit)}`,
  );

  // The old replica keeps committing on the new schema, through the function it knows.
  tip = queued;
  for (let i = 0; i < 2; i++) {
    const b = legacyBlock(1, tip.height + 1, tip.hash, { changes: [['n', tip.height + 1]] });
    await commitLikePreviousBuild(oldLeader, b);
    tip = b;
  }
  const pool = testPool(url, 2);
  cleanups.push(() => pool.end());
  const store = new LedgerStore(pool);
  const lane = await store.lane('main');
  assert.equal(lane?.version, null);
  assert.equal(lane?.height, tip.height);

  // A new replica's first block sets the version; the old replica is then fenced.
  const first = makeBlock(1, tip.height + 1, tip.hash);
  await store.commitBlock(first);
  assert.equal((await store.lane('main'))?.version, TOKEN_LANE.version);
  await expectSqlState(
    commitLikePreviousBuild(oldLeader, legacyBlock(1, first.height + 1, first.hash)),
    SQLSTATE.fenced,
  );
  const blocks = await verifyChain(store);
  assert.equal(blocks.length, first.height);
  assert.deepEqual(await store.versions('main'), [
    { version: null, firstHeight: 1, lastHeight: first.height - 1 },
    { version: TOKEN_LANE.version, firstHeight: first.height, lastHeight: first.height },
  ]);
  const [n] = await store.stateRows('main', ['n']);
  assert.deepEqual(n, { key: 'n', value: first.height - 1, height: first.height - 1 });
}

describe('migration 6 over a database of the previous build', () => {
  test('the schema change runs while replicas of the previous version keep committing', async () => {
    await migrateWhileOldReplicasCommit('commit', false);
  });

  test('a replica loading a lane while the schema changes fails neither the migration nor an old commit', async () => {
    await migrateWhileOldReplicasCommit('snapshot', true);
  });
});
