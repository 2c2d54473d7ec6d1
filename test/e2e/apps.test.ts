import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { createClient, generateKeyPair, signTx, type KeyPair } from '../../src/client/index.js';
import { TestCluster } from '../helpers/cluster.js';
import { send } from '../helpers/http.js';
import { checkLedger } from '../helpers/invariants.js';
import { TestPostgres } from '../helpers/postgres.js';
import { writeThirdPartyApps, type ThirdPartyApps } from '../helpers/third-party-apps.js';
import { waitUntil } from '../helpers/wait.js';

// A user's own app modules (written to a temporary directory, loaded by path with --app) on
// three real replica processes: its lanes, receipts, validation errors, reads on every replica,
// poison transactions, a non-deterministic app caught by --verify-blocks, and a leader SIGKILL.

let server: TestPostgres;
let dbUrl: string;
let apps: ThirdPartyApps;
let cluster: TestCluster;
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  server = await TestPostgres.start();
  dbUrl = await server.database();
  apps = await writeThirdPartyApps();
  cleanups.push(() => apps.remove());
  cluster = await TestCluster.start({
    databaseUrl: dbUrl,
    replicaArgs: ['--app', apps.v1],
    // r3 re-executes every block: the dice app's Math.random() must show up there.
    argsFor: (id) => (id === 'r3' ? ['--verify-blocks'] : []),
  });
  cleanups.push(() => cluster.stop());
  for (const lane of ['notes', 'dice']) {
    const created = await admin('POST', '/v1/admin/lanes', { lane, app: lane });
    assert.equal(created.status, 201, created.text);
  }
  for (const lane of ['notes', 'dice']) await cluster.leader(lane);
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await server?.stop();
});

async function admin(method: string, path: string, body?: unknown) {
  return send(cluster.urls[0]!, method, path, {
    headers: { authorization: `Bearer ${cluster.local.adminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function getJson<T>(url: string, path: string): Promise<{ status: number; body: T }> {
  const answer = await send(url, 'GET', path);
  return { status: answer.status, body: JSON.parse(answer.text) as T };
}

async function submitRaw(url: string, lane: string, kind: string, args: unknown, key: KeyPair) {
  const tx = await signTx(lane, { kind, args }, key);
  const answer = await send(url, 'POST', `/v1/lanes/${lane}/txs`, {
    body: JSON.stringify(tx.envelope),
    headers: { 'content-type': 'application/json' },
  });
  return {
    ...answer,
    id: tx.id,
    json: JSON.parse(answer.text) as { error?: { code: string; message: string } },
  };
}

test('the replicas advertise the apps they loaded, and each lane names its app and version', async () => {
  const view = await getJson<{ replicas: Array<{ id: string; apps: Record<string, string[]> }> }>(
    cluster.urls[1]!,
    '/v1/cluster',
  );
  for (const r of view.body.replicas) {
    assert.deepEqual(r.apps, { dice: ['1.0.0'], notes: ['1.0.0'], token: ['1.0.0'] }, r.id);
  }
  for (const url of cluster.urls) {
    const lane = await getJson<{ lane: string; app: string; version: string }>(url, '/v1/lanes/notes');
    assert.equal(lane.status, 200);
    assert.equal(lane.body.app, 'notes');
    assert.equal(lane.body.version, '1.0.0');
  }
});

test('validate refuses with coded 4xx and the app message; nothing is stored', async () => {
  const key = await generateKeyPair();
  const unknown = await submitRaw(cluster.urls[0]!, 'notes', 'delete', { key: 'x' }, key);
  assert.equal(unknown.status, 400);
  assert.equal(unknown.json.error?.code, 'unknown_kind');
  assert.match(unknown.json.error.message, /notes has no kind delete/);
  const bad = await submitRaw(cluster.urls[1]!, 'notes', 'put', { key: 'NOT OK', text: 'x' }, key);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error?.code, 'bad_args');
  assert.match(bad.json.error.message, /put takes/);
  for (const id of [unknown.id, bad.id]) {
    const status = await send(cluster.urls[2]!, 'GET', `/v1/lanes/notes/txs/${id}`);
    assert.equal(status.status, 404, 'a refused submission is not stored');
  }
});

test('receipts carry the app result; state and queries answer the same on every replica', async () => {
  const key = await generateKeyPair();
  const client = createClient({ endpoints: cluster.urls });
  const ids: string[] = [];
  for (const [i, text] of ['first', 'second', 'third'].entries()) {
    const { id } = await client.submit('notes', { kind: 'put', args: { key: `k${i}`, text } }, key);
    ids.push(id);
  }
  for (const id of ids) {
    const receipt = await client.waitForCommit('notes', id, { signal: AbortSignal.timeout(15_000) });
    assert.equal(receipt.ok, true);
    assert.deepEqual((receipt as { result?: unknown }).result, {
      key: `k${ids.indexOf(id)}`,
      height: receipt.height,
    });
  }
  for (const url of cluster.urls) {
    const state = await getJson<{ key: string; value: { text: string; by: string }; height: number }>(
      url,
      `/v1/lanes/notes/state/${encodeURIComponent('note:k1')}`,
    );
    assert.equal(state.status, 200);
    assert.equal(state.body.value.text, 'second');
    assert.equal(state.body.value.by, key.publicKey);
    const absent = await getJson<{ value: unknown }>(
      url,
      `/v1/lanes/notes/state/${encodeURIComponent('note:none')}`,
    );
    assert.equal(absent.body.value, null);
    const query = await getJson<{ result: { text: string } }>(
      url,
      `/v1/lanes/notes/query/get?args=${encodeURIComponent(JSON.stringify({ key: 'k2' }))}`,
    );
    assert.equal(query.status, 200);
    assert.equal(query.body.result.text, 'third');
    const count = await getJson<{ result: number; height: number }>(url, '/v1/lanes/notes/query/count');
    assert.ok(count.body.result >= 3);
    const missing = await getJson<{ error: { code: string } }>(url, '/v1/lanes/notes/query/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'unknown_query');
  }
});

test('poison transactions are committed as refused and the lane keeps producing', async () => {
  const key = await generateKeyPair();
  const client = createClient({ endpoints: cluster.urls });
  const poisons = ['throw', 'loop', 'nan', 'fraction', 'cycle', 'huge', 'nul', 'promise', 'garbage'];
  const ids = new Map<string, string>();
  for (const how of poisons) {
    ids.set(how, (await client.submit('notes', { kind: 'poison', args: { how } }, key)).id);
  }
  const after = await client.submit(
    'notes',
    { kind: 'put', args: { key: 'after-poison', text: 'still here' } },
    key,
  );
  for (const [how, id] of ids) {
    const receipt = await client.waitForCommit('notes', id, { signal: AbortSignal.timeout(30_000) });
    assert.equal(receipt.ok, false, `${how} is refused`);
    assert.ok(receipt.error && receipt.error.length > 0, `${how} says why`);
  }
  const ok = await client.waitForCommit('notes', after.id, { signal: AbortSignal.timeout(30_000) });
  assert.equal(ok.ok, true);
  // Nothing a refused transaction wrote is kept.
  for (const url of cluster.urls) {
    for (const k of ['poisoned', 'bad']) {
      const state = await getJson<{ value: unknown }>(url, `/v1/lanes/notes/state/${k}`);
      assert.equal(state.body.value, null, `${k} on ${url}`);
    }
  }
  const loop = await client.status('notes', ids.get('loop')!);
  assert.match(loop.error ?? '', /time budget/);
});

test('--verify-blocks catches an app that calls Math.random(): logged, counted, in status', async () => {
  const key = await generateKeyPair();
  const client = createClient({ endpoints: cluster.urls });
  for (let i = 0; i < 3; i++) {
    const { id } = await client.submit('dice', { kind: 'roll', args: {} }, key);
    await client.waitForCommit('dice', id, { signal: AbortSignal.timeout(15_000) });
  }
  const r3 = cluster.local.replica('r3').url;
  const mismatches = await waitUntil(
    async () => {
      const text = (await send(r3, 'GET', '/metrics')).text;
      const match = /baton_blocks_verified_total\{replica="r3",outcome="mismatch"\} (\d+)/.exec(text);
      return match && Number(match[1]) >= 3 ? Number(match[1]) : undefined;
    },
    { timeoutMs: 15_000, message: 'r3 counts the dice blocks as mismatches' },
  );
  assert.ok(mismatches >= 3);
  const metrics = (await send(r3, 'GET', '/metrics')).text;
  assert.match(
    metrics,
    /baton_blocks_verified_total\{replica="r3",outcome="match"\} [1-9]/,
    'notes blocks verify',
  );
  const logged = (await readFile(cluster.logFile('r3'), 'utf8'))
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter(
      (line) => line['level'] === 'error' && line['lane'] === 'dice' && line['what'] === 'state writes',
    );
  assert.ok(logged.length >= 3, 'each dice block is logged with its height and what differs');
  assert.ok(logged.every((line) => typeof line['height'] === 'number' && typeof line['hash'] === 'string'));
  const status = await waitUntil(
    async () => {
      const answer = await admin('GET', '/v1/admin/status');
      const body = JSON.parse(answer.text) as { replicas: Array<{ id: string; mismatches: number | null }> };
      const entry = body.replicas.find((r) => r.id === 'r3');
      return entry?.mismatches ? body : undefined;
    },
    { timeoutMs: 10_000, message: 'the admin status shows r3 mismatches' },
  );
  assert.equal(status.replicas.find((r) => r.id === 'r1')?.mismatches, null, 'r1 does not verify');
});

test('SIGKILL of the notes leader: another replica takes the lane; every acknowledged tx committed once', async () => {
  const key = await generateKeyPair();
  const client = createClient({ endpoints: cluster.urls, attempts: 40 });
  const leader = await cluster.leader('notes');
  const acked = new Map<string, number>();
  let n = 0;
  const stop = new AbortController();
  const failures: string[] = [];
  const load = (async () => {
    while (!stop.signal.aborted && n < 2_000) {
      const args = { key: `load-${n % 50}`, text: `n${n}` };
      n++;
      try {
        const { id } = await client.submit('notes', { kind: 'put', args, nonce: n }, key, {
          signal: stop.signal,
        });
        acked.set(id, 0);
      } catch (error) {
        if (!stop.signal.aborted) failures.push(String(error));
      }
    }
  })();
  await waitUntil(() => acked.size >= 20, { timeoutMs: 20_000, message: '20 acks before the kill' });
  cluster.local.replica(leader.id).signal('SIGKILL');
  const next = await cluster.leader('notes', (id, term) => id !== leader.id && term > leader.term);
  const before = acked.size;
  await waitUntil(() => acked.size >= before + 20, { timeoutMs: 20_000, message: '20 acks after the kill' });
  stop.abort();
  await load;
  assert.deepEqual(failures, []);
  assert.notEqual(next.id, leader.id);
  const ids = [...acked.keys()];
  await waitUntil(
    async () => {
      const statuses = await Promise.all(ids.map((id) => client.status('notes', id)));
      return statuses.every((s) => s.status === 'committed');
    },
    { timeoutMs: 30_000, message: 'every acknowledged put committed' },
  );
  // No fork, no gap, no fenced-term block, no transaction twice (the app-independent checks).
  await checkLedger(dbUrl, acked, 'notes');
});
