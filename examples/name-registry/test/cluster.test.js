// End to end, on real clusters that `baton up` starts (two replicas, an embedded PostgreSQL):
// - names 1.0.0 alone: a lane of the app is created through the admin API, a name registered
//   with the SDK, and every replica answers its owner;
// - names 1.0.0 and 2.0.0 loaded together: a lane upgraded from one to the other keeps its names.
// Whatever happens, each test stops what it started (and the file's after() hook is a backstop).
/* global fetch, AbortSignal */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import console from 'node:console';
import process from 'node:process';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { URL, fileURLToPath } from 'node:url';
import { BatonError, createClient, generateKeyPair } from 'baton/client';

/** The CLI of the installed `baton` package (its bin/baton.js, next to dist/). */
const BATON_CLI = fileURLToPath(new URL('../../bin/baton.js', import.meta.resolve('baton')));
const V1 = fileURLToPath(new URL('../v1.js', import.meta.url));
const V2 = fileURLToPath(new URL('../v2.js', import.meta.url));
const REPLICAS = 2;
/** The machine may be busy: starting PostgreSQL and the replicas can take a while. */
const READY_TIMEOUT_MS = 120_000;
const COMMIT_TIMEOUT_MS = 60_000;

/** Every cleanup not run yet; each test runs its own, this hook whatever a failure left. */
/** @type {Set<() => Promise<void>>} */
const pending = new Set();
after(async () => {
  for (const cleanup of [...pending].reverse()) await cleanup().catch((error) => console.error(error));
});

/** Registers `cleanup` to run once: from the test's own after hook, or else from the file's. */
function onCleanup(
  /** @type {import('node:test').TestContext} */ t,
  /** @type {() => Promise<void>} */ cleanup,
) {
  const once = async () => {
    if (!pending.delete(once)) return;
    await cleanup();
  };
  pending.add(once);
  t.after(once);
}

/**
 * Polls `probe` until it returns something other than undefined/false; throws at the deadline.
 * @template T
 * @param {() => Promise<T | undefined | false> | T | undefined | false} probe
 * @param {{ timeoutMs?: number, message: string | (() => string) }} options
 * @returns {Promise<T>}
 */
async function waitUntil(probe, { timeoutMs = 60_000, message }) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (let interval = 20; ; interval = Math.min(interval * 2, 500)) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return /** @type {T} */ (value);
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const text = typeof message === 'function' ? message() : message;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${text}`, { cause: lastError });
    }
    await delay(interval);
  }
}

/** Whether `port` on 127.0.0.1 can be bound now. */
function portFree(/** @type {number} */ port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive free ports, below the kernel's ephemeral range (as Baton's
 * own tests pick them): a port inside it may be taken by an outgoing connection meanwhile.
 */
async function freePortRun(/** @type {number} */ count) {
  const low = 10_000;
  const ephemeralStart = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .then((text) => Number(text.trim().split(/\s+/)[0]))
    .catch(() => NaN);
  const high = (ephemeralStart > low + count ? ephemeralStart : 32_768) - count;
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = low + Math.floor(Math.random() * (high - low));
    const free = await Promise.all(Array.from({ length: count }, (_, i) => portFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports between ${low} and ${high + count}`);
}

/** Sends SIGKILL to `pid` if it is still there. */
function killIfAlive(/** @type {number} */ pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Starts `baton up` in the background. Its cleanup stops it with SIGINT (it then stops its
 * replicas and PostgreSQL), or kills it and what it started when it has not exited 30 s later.
 * @param {import('node:test').TestContext} t
 * @param {string[]} args
 * @param {string} dataDir
 */
function batonUp(t, args, dataDir) {
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT']; // the child is not a test file of this run
  const child = spawn(process.execPath, [BATON_CLI, 'up', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  /** @type {string[]} */
  const lines = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  createInterface({ input: child.stderr }).on('line', (l) => lines.push(l));
  /** @type {Promise<void>} */
  const exited = new Promise((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  onCleanup(t, async () => {
    if (!running()) return;
    child.kill('SIGINT');
    const timeout = delay(30_000, 'timeout', { ref: false });
    if ((await Promise.race([exited, timeout])) !== 'timeout') return;
    // It hangs: kill it, then the replicas and the database it started, by their recorded pids.
    child.kill('SIGKILL');
    await exited;
    /** @type {unknown} */
    const recorded = JSON.parse(await readFile(join(dataDir, 'cluster.json'), 'utf8').catch(() => '{}'));
    for (const r of /** @type {{ replicas?: Array<{ pid?: number }> }} */ (recorded).replicas ?? [])
      if (typeof r.pid === 'number') killIfAlive(r.pid);
    const postmaster = await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').catch(() => '');
    const pgPid = Number(postmaster.split('\n')[0]);
    if (Number.isInteger(pgPid) && pgPid > 0) killIfAlive(pgPid);
  });
  /** Waits for "ready in"; false when it exited first. */
  const ready = () =>
    waitUntil(() => (!running() ? 'exited' : lines.some((l) => l.startsWith('ready in')) && 'ready'), {
      timeoutMs: READY_TIMEOUT_MS + 30_000,
      message: () => `"ready in" from baton up; its output so far:\n${lines.join('\n')}`,
    }).then((state) => state === 'ready');
  return { lines, ready, exited };
}

/**
 * A ready cluster of `baton up` running the app modules `apps`, in a temporary directory.
 * @param {import('node:test').TestContext} t
 * @param {string[]} apps
 */
async function startCluster(t, apps) {
  const dataDir = await mkdtemp(join(tmpdir(), 'baton-names-'));
  onCleanup(t, () => rm(dataDir, { recursive: true, force: true }));
  // The ports are free when chosen; should something take one before baton up binds it, it
  // exits at once saying so, and another run of ports is tried.
  for (let attempt = 1; ; attempt++) {
    const port = await freePortRun(REPLICAS);
    const up = batonUp(
      t,
      [
        ...['--replicas', String(REPLICAS), '--port', String(port), '--data-dir', dataDir],
        ...apps.flatMap((app) => ['--app', app]),
        ...['--ready-timeout', String(READY_TIMEOUT_MS / 1000)],
      ],
      dataDir,
    );
    if (await up.ready()) {
      const token = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
      const urls = Array.from({ length: REPLICAS }, (_, i) => `http://127.0.0.1:${port + i}`);
      /** An admin API request (bearer token of the data directory). */
      const admin = (/** @type {string} */ method, /** @type {string} */ path, /** @type {unknown} */ body) =>
        http(`${urls[0]}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      return { urls, lines: up.lines, admin };
    }
    await up.exited;
    const output = up.lines.join('\n');
    if (attempt >= 3 || !output.includes('already in use'))
      assert.fail(`baton up exited before it was ready:\n${output}`);
  }
}

/**
 * A JSON request: its status and its body (unknown: the caller says what it expects).
 * @param {string} url
 * @param {RequestInit} [init]
 * @returns {Promise<{ status: number, body: unknown }>}
 */
async function http(url, init = {}) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  /** @type {unknown} */
  const body = await res.json().catch(() => null);
  return { status: res.status, body };
}

/** The result of a query of lane `names` on the replica at `url`, once it answers 200. */
async function query(/** @type {string} */ url, /** @type {string} */ name, /** @type {unknown} */ args) {
  const path = `/v1/lanes/names/query/${name}?args=${encodeURIComponent(JSON.stringify(args))}`;
  const answer = await waitUntil(
    async () => {
      const { status, body } = await http(url + path);
      return status === 200 ? /** @type {{ result: unknown, height: number }} */ (body) : undefined;
    },
    { timeoutMs: 30_000, message: `the ${name} query on ${url}` },
  );
  return answer;
}

/** @typedef {{ lane: string, app: string, version: string | null, created: boolean }} CreatedLane */
/** @typedef {{ lanes: Array<{ lane: string, leader: string | null }> }} ClusterView */

/** Creates lane `names` of app `names` (at `version`, default the newest) and waits for its leader. */
async function createLane(
  /** @type {Awaited<ReturnType<typeof startCluster>>} */ cluster,
  /** @type {string | undefined} */ version,
) {
  const created = await cluster.admin('POST', '/v1/admin/lanes', {
    lane: 'names',
    app: 'names',
    ...(version ? { version } : {}),
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const lane = /** @type {CreatedLane} */ (created.body);
  await waitUntil(
    async () => {
      const { body } = await http(`${cluster.urls[0]}/v1/cluster`);
      return /** @type {ClusterView} */ (body).lanes.find((l) => l.lane === 'names' && l.leader);
    },
    { message: 'a leader for lane names' },
  );
  return lane;
}

/**
 * Submits one transaction to lane `names` and waits for its block.
 * @param {import('baton/client').BatonClient} client
 * @param {import('baton/client').KeyPair} key
 * @param {string} kind
 * @param {unknown} args
 */
async function commit(client, key, kind, args) {
  const { id } = await client.submit('names', { kind, args }, key);
  return client.waitForCommit('names', id, { signal: AbortSignal.timeout(COMMIT_TIMEOUT_MS) });
}

test(
  'names 1.0.0 on a local cluster: register a name, every replica answers its owner',
  { timeout: 300_000 },
  async (t) => {
    const cluster = await startCluster(t, [V1]);
    assert.ok(
      cluster.lines.some((l) => /apps names 1\.0\.0, token/.test(l)),
      `baton up names the app it loaded, v1 only:\n${cluster.lines.join('\n')}`,
    );
    const lane = await createLane(cluster, undefined);
    assert.deepEqual([lane.lane, lane.app, lane.version], ['names', 'names', '1.0.0']);

    const client = createClient({ endpoints: cluster.urls, timeoutMs: 10_000 });
    const alice = await generateKeyPair();
    const bob = await generateKeyPair();
    const registered = await commit(client, alice, 'register', { name: 'alice' });
    assert.equal(registered.ok, true, JSON.stringify(registered));

    // Refusals: by the app at apply (taken), and by validate at intake (bad_args, unknown_kind).
    const taken = await commit(client, bob, 'register', { name: 'alice' });
    assert.deepEqual([taken.ok, taken.error], [false, 'taken']);
    for (const [kind, args, code] of /** @type {Array<[string, unknown, string]>} */ ([
      ['register', { name: 'Not A Name' }, 'bad_args'],
      ['renew', { name: 'alice' }, 'unknown_kind'], // a v2 kind: this cluster runs v1 only
    ])) {
      await assert.rejects(
        client.submit('names', { kind, args }, bob),
        (error) => error instanceof BatonError && error.code === code,
        `${kind} is refused ${code}`,
      );
    }

    // Every replica answers the owner (reads are read-your-writes on any replica).
    for (const url of cluster.urls) {
      const owner = await query(url, 'owner', { name: 'alice' });
      assert.equal(owner.result, alice.publicKey, url);
      assert.ok(owner.height >= /** @type {number} */ (registered.height), url);
      assert.equal((await query(url, 'owner', { name: 'bob' })).result, null, url);
      assert.equal((await query(url, 'count', null)).result, 1, url);
    }
  },
);

test(
  'names 1.0.0 then 2.0.0: an upgraded lane keeps the names v1 registered, never expiring',
  { timeout: 300_000 },
  async (t) => {
    const cluster = await startCluster(t, [V1, V2]);
    const lane = await createLane(cluster, '1.0.0');
    assert.equal(lane.version, '1.0.0');
    const client = createClient({ endpoints: cluster.urls, timeoutMs: 10_000 });
    const alice = await generateKeyPair();
    const bob = await generateKeyPair();
    const first = await commit(client, alice, 'register', { name: 'alice' });
    assert.equal(first.ok, true, JSON.stringify(first));

    // What `baton upgrade names --to 2.0.0` does. Replicas publish the versions they run with
    // their readiness, which the cluster may not have seen yet this early: 409 until it has.
    const proposed = await waitUntil(
      async () => {
        const answer = await cluster.admin('POST', '/v1/admin/lanes/names/upgrade', { to: '2.0.0' });
        return answer.status === 409 ? undefined : answer;
      },
      { message: 'the cluster to accept the upgrade to 2.0.0' },
    );
    assert.equal(proposed.status, 202, JSON.stringify(proposed.body));
    assert.equal(/** @type {{ status: string }} */ (proposed.body).status, 'proposed');
    await waitUntil(
      async () => {
        const { body } = await http(`${cluster.urls[0]}/v1/lanes/names`);
        return /** @type {{ version: string | null }} */ (body).version === '2.0.0';
      },
      { message: 'lane names on 2.0.0' },
    );

    const renewed = await commit(client, alice, 'renew', { name: 'alice' });
    assert.deepEqual([renewed.ok, renewed.result], [true, { expires: null }], JSON.stringify(renewed));
    const registered = await commit(client, bob, 'register', { name: 'bob' });
    assert.equal(registered.ok, true, JSON.stringify(registered));
    const height = /** @type {number} */ (registered.height);
    assert.deepEqual(registered.result, { expires: height + 1000 });
    for (const url of cluster.urls) {
      assert.deepEqual((await query(url, 'record', { name: 'alice' })).result, {
        owner: alice.publicKey,
        since: first.height,
        expires: null,
      });
      assert.equal((await query(url, 'owner', { name: 'bob' })).result, bob.publicKey, url);
      assert.equal((await query(url, 'count', null)).result, 2, url);
    }
  },
);
