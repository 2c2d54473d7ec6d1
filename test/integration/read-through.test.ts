import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createClient, generateKeyPair, type KeyPair } from '../../src/client/index.js';
import { silentLogger } from '../../src/log.js';
import { replicaConfig } from '../../src/node/config.js';
import { startReplica, type Replica } from '../../src/node/replica.js';
import { TokenModel } from '../../src/chaos/check-ledger.js';
import { checkLedger } from '../helpers/invariants.js';
import { usePostgresPerFile } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';

// Replicas that may hold only a few state keys of a lane in memory (--state-cache-keys): the
// leader builds blocks, a newly started replica follows and serves queries, and a handed-over
// lane goes on, all reading the keys they lack through to PostgreSQL. Every result must be what
// a replica holding the whole state would compute: the token model replays the chain.

const file = usePostgresPerFile();
const replicas: Replica[] = [];
after(async () => {
  await Promise.allSettled(replicas.map((r) => r.stop()));
});

const CACHE_KEYS = 8;

async function replica(id: string, databaseUrl: string): Promise<Replica> {
  const r = await startReplica(
    replicaConfig({ id, databaseUrl, logger: silentLogger, port: 0, stateCacheKeys: CACHE_KEYS }),
  );
  replicas.push(r);
  return r;
}

test('a lane larger than the state cache: blocks, queries and a handover read keys through and agree with the model', async () => {
  const url = await file.server.database();
  const a = await replica('a', url);
  await waitUntil(() => a.leading().has('main'), { message: 'a leads main' });
  const keys: KeyPair[] = await Promise.all(Array.from({ length: 12 }, () => generateKeyPair()));
  const model = new TokenModel();
  const acked = new Map<string, number>();
  let client = createClient({ endpoints: [a.url] });

  /** Commits one transaction and checks its result against the model. */
  const commit = async (key: KeyPair, kind: 'faucet' | 'transfer', args: { amount: number; to?: string }) => {
    const { id } = await client.submit('main', { kind, args }, key);
    acked.set(id, kind === 'faucet' ? args.amount : 0);
    const receipt = await client.waitForCommit('main', id, { signal: AbortSignal.timeout(15_000) });
    const expected = model.apply({ from: key.publicKey, kind, args });
    assert.equal(receipt.ok, expected, `${kind} ${JSON.stringify(args)} by ${key.publicKey.slice(0, 8)}`);
  };

  // 12 accounts and the supply: more keys than the cache holds, so the first ones are dropped.
  for (const [i, key] of keys.entries()) await commit(key, 'faucet', { amount: 10 + i });
  // Transfers between the oldest (dropped) accounts, some refused for lack of funds.
  for (let i = 0; i < 12; i++) {
    const from = keys[i % 4]!;
    const to = keys[(i + 5) % 12]!;
    await commit(from, 'transfer', { amount: 7 + i, to: to.publicKey });
  }

  const state = async (r: Replica) => {
    const text = await (await fetch(`${r.url}/metrics`)).text();
    const keys = /baton_lane_state_keys\{replica="\w+",lane="main"\} (\d+)/.exec(text);
    const whole = /baton_lane_state_whole\{replica="\w+",lane="main"\} (\d+)/.exec(text);
    return { keys: Number(keys?.[1]), whole: whole?.[1] === '1' };
  };
  const onA = await state(a);
  assert.equal(onA.whole, false, 'the leader dropped keys: it reads through from here on');
  assert.ok(onA.keys <= CACHE_KEYS, `a holds ${onA.keys} keys`);

  // A replica started now holds none of the lane's keys (more than its cache) and follows.
  const b = await replica('b', url);
  assert.deepEqual(await state(b), { keys: 0, whole: false }, 'b loaded no keys');
  const reader = createClient({ endpoints: [b.url] });
  for (const key of keys) {
    assert.equal(await reader.balance('main', key.publicKey), model.balance(key.publicKey.toLowerCase()));
  }
  const supply = await reader.query('main', 'supply');
  assert.equal(
    supply.result,
    [...model.balances.values()].reduce((x, y) => x + y, 0),
  );

  // The lane moves to b, which builds its blocks reading through.
  await a.stop();
  await waitUntil(() => b.leading().has('main'), { timeoutMs: 15_000, message: 'b leads main' });
  client = createClient({ endpoints: [b.url] });
  for (let i = 0; i < 8; i++) {
    const from = keys[(i * 3) % 12]!;
    await commit(from, 'transfer', { amount: 5 + i, to: keys[(i + 1) % 12]!.publicKey });
  }
  for (const key of keys) {
    assert.equal(await reader.balance('main', key.publicKey), model.balance(key.publicKey.toLowerCase()));
  }
  // The chain, receipts, balances and supply, replayed from the database.
  await checkLedger(url, acked);
});
