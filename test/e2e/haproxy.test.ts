import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { isReady } from '../../src/cluster/local.js';
import { signTx } from '../../src/client/tx.js';
import { generateKeyPair } from '../../src/ledger/keys.js';
import { TestCluster } from '../helpers/cluster.js';
import { HaproxyProcess, parseRequestLog, type HaproxyRequestLog } from '../../src/cluster/haproxy.js';
import { checkLedger, committedCount, tipHeight } from '../helpers/invariants.js';
import { TestPostgres } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';

// A plain HTTP client and a plain WebSocket subscriber, with no retries of their own, talk to
// the cluster only through HAProxy running deploy/haproxy/haproxy.cfg, while every replica is
// restarted in turn (SIGTERM: drain, exit; then started again).

const LANE = 'main';
const WORKERS = 4;
/** Hard bound on transactions one load run sends, whatever happens. */
const MAX_TXS = 20_000;
/** Acknowledged transactions to see before each restart and after the last one. */
const ACKS_PER_STEP = 25;
/** Hard bound on stream (re)connections. */
const MAX_CONNECTIONS = 100;

let server: TestPostgres;
let dbUrl: string;
let cluster: TestCluster;
let proxy: HaproxyProcess;
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  server = await TestPostgres.start();
  dbUrl = await server.database();
  cluster = await TestCluster.start({ databaseUrl: dbUrl, replicas: 3, leaseTtlMs: 3_000 });
  cleanups.push(() => cluster.stop());
  const servers = cluster.local.replicas.map((r) => ({ name: r.options.id, port: r.options.port }));
  proxy = await HaproxyProcess.start(servers, servers.length);
  cleanups.push(() => proxy.stop());
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await server?.stop();
});

/** Signed faucet transactions sent through HAProxy by plain `fetch`, each exactly once. */
class PlainLoad {
  readonly acked = new Map<string, number>();
  readonly failures: string[] = [];
  /** Status codes of the answers (202 new, 200 already known: a replayed request). */
  readonly statuses = new Map<number, number>();
  readonly replicas = new Map<string, number>();
  sent = 0;
  private stopped = false;
  private workers: Promise<void>[] = [];

  constructor(private readonly url: string) {}

  start(): void {
    this.workers = Array.from({ length: WORKERS }, async (_, worker) => {
      const key = generateKeyPair();
      for (let n = 0; !this.stopped && this.sent < MAX_TXS; n++) {
        this.sent++;
        const amount = 1 + ((worker + n) % 10);
        const tx = await signTx(LANE, { kind: 'faucet', args: { amount }, nonce: `w${worker}-${n}` }, key);
        try {
          const res = await fetch(`${this.url}/v1/lanes/${LANE}/txs`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(tx.envelope),
            signal: AbortSignal.timeout(20_000),
          });
          const text = await res.text();
          this.statuses.set(res.status, (this.statuses.get(res.status) ?? 0) + 1);
          const replica = res.headers.get('x-baton-replica') ?? '(haproxy)';
          this.replicas.set(replica, (this.replicas.get(replica) ?? 0) + 1);
          const body = JSON.parse(text || '{}') as { id?: string };
          if (res.status >= 200 && res.status < 300 && body.id === tx.id) this.acked.set(tx.id, amount);
          else this.failures.push(`${res.status} from ${replica}: ${text.slice(0, 200)}`);
        } catch (error) {
          const cause = (error as { cause?: { code?: string; message?: string } }).cause;
          this.failures.push(`${String(error)}${cause ? ` (${cause.code ?? cause.message})` : ''}`);
        }
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers);
  }

  report(t: TestContext): void {
    t.diagnostic(
      `sent ${this.sent}, acknowledged ${this.acked.size}, statuses ${JSON.stringify([...this.statuses])}, ` +
        `replicas ${JSON.stringify([...this.replicas])}, failures ${this.failures.length}`,
    );
    for (const f of this.failures.slice(0, 10)) t.diagnostic(`failed: ${f}`);
  }

  async waitAcks(n: number, message: string): Promise<void> {
    const target = this.acked.size + n;
    await waitUntil(() => this.acked.size >= target || this.sent >= MAX_TXS, {
      timeoutMs: 30_000,
      message: () =>
        `${message}: ${n} more acknowledged transactions (failures so far: ${this.failures.length})`,
    });
    assert.ok(this.sent < MAX_TXS, `the load hit its bound of ${MAX_TXS} transactions`);
  }
}

/** Restarts every replica in turn, under `load`: SIGTERM and exit, start, ready, UP in HAProxy. */
async function rollingRestart(t: TestContext, load: PlainLoad): Promise<void> {
  for (const replica of cluster.local.replicas) {
    const id = replica.options.id;
    await load.waitAcks(ACKS_PER_STEP, `traffic before restarting ${id}`);
    const started = Date.now();
    await replica.stop(15_000);
    const stoppedMs = Date.now() - started;
    replica.start();
    await waitUntil(() => isReady(replica.url), {
      timeoutMs: 30_000,
      message: `${id} ready again after its restart; see ${cluster.logFile(id)}`,
    });
    await proxy.waitServer(id, 'UP');
    t.diagnostic(`${id}: drained and exited in ${stoppedMs} ms, UP again after ${Date.now() - started} ms`);
    if (stoppedMs > 3_000) await reportDrain(t, id);
  }
  await load.waitAcks(ACKS_PER_STEP, 'traffic after the rolling restart');
}

/** The replica's log lines of its last drain, for a drain that took long. */
async function reportDrain(t: TestContext, id: string): Promise<void> {
  const lines = (await readFile(cluster.logFile(id), 'utf8')).split('\n');
  const from = lines.map((l) => l.includes('"replica draining"')).lastIndexOf(true);
  for (const line of lines.slice(Math.max(0, from - 2), from + 15)) t.diagnostic(`${id} log: ${line}`);
}

/** HAProxy's view of what happened since line `since` of its output, as test diagnostics. */
async function reportProxy(t: TestContext, since: number): Promise<void> {
  const lines = proxy.lines.slice(since);
  // State changes appear twice (stderr warning and log line): show each once.
  const changes = lines
    .filter((l) => l.includes('Server replicas/'))
    .map((l) => l.replace(/^\[\w+\]\s+\(\d+\) : /, ''));
  for (const line of [...new Set(changes)].slice(0, 30)) t.diagnostic(`haproxy: ${line}`);
  const logs = lines
    .map(parseRequestLog)
    .filter((l): l is HaproxyRequestLog => l !== null && !l.line.includes(' stats stats/'));
  const unusual = logs.filter(
    (l) =>
      l.retries > 0 ||
      l.redispatched ||
      l.termination !== '----' ||
      l.status >= 500 ||
      l.line.includes('/stream?'),
  );
  t.diagnostic(`haproxy: ${logs.length} requests; retried, failed or streams: ${unusual.length}`);
  for (const l of unusual.slice(0, 30)) t.diagnostic(`haproxy: ${l.line}`);
  t.diagnostic(`haproxy counters (cumulative): ${(await proxy.counters().catch(() => [])).join('; ')}`);
}

describe('HAProxy (deploy/haproxy/haproxy.cfg) in front of the cluster', () => {
  test('rolling restart: a client sending each transaction once sees no failed request', async (t) => {
    const logsBefore = proxy.lines.length;
    const load = new PlainLoad(proxy.url);
    load.start();
    cleanups.push(() => load.stop());
    try {
      await rollingRestart(t, load);
    } finally {
      await load.stop();
      load.report(t);
      await reportProxy(t, logsBefore);
    }

    assert.deepEqual(load.failures, [], 'every request through HAProxy was answered 2xx');
    assert.equal(load.acked.size, load.sent, 'every transaction sent was acknowledged');
    const ids = [...load.acked.keys()];
    await waitUntil(async () => (await committedCount(dbUrl, ids)) === ids.length, {
      timeoutMs: 30_000,
      message: `all ${ids.length} acknowledged transactions committed`,
    });
    // Gapless chain, each acknowledged transaction in exactly one block, supply adds up.
    await checkLedger(dbUrl, load.acked);
  });

  test('stream through HAProxy: resumes from its cursor across a rolling restart, no gap, no repeat', async (t) => {
    const heights: number[] = [];
    const closes: string[] = [];
    let connections = 0;
    let done = false;
    let socket: WebSocket | null = null;
    const last = (): number => heights.at(-1) ?? 0;

    const subscribe = (): void => {
      connections++;
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/v1/lanes/${LANE}/stream?after=${last()}`, {
        handshakeTimeout: 5_000,
      });
      socket = ws;
      ws.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString('utf8')) as { type: string; block?: { height: number } };
        if (msg.type === 'block') heights.push(msg.block!.height);
      });
      ws.on('unexpected-response', (_req, res) => {
        closes.push(`upgrade refused: ${res.statusCode}`);
        ws.terminate();
      });
      ws.on('error', (error) => void (done || closes.push(`error ${error.message}`)));
      ws.on('close', (code, reason) => {
        if (done) return;
        closes.push(`close ${code} ${reason.toString()}`);
        if (connections < MAX_CONNECTIONS) subscribe();
      });
    };

    const logsBefore = proxy.lines.length;
    const load = new PlainLoad(proxy.url);
    load.start();
    cleanups.push(() => load.stop());
    subscribe();
    try {
      await rollingRestart(t, load);
      await load.stop();
      // Once every acknowledged transaction is committed no block is coming: the tip is final.
      const ids = [...load.acked.keys()];
      await waitUntil(async () => (await committedCount(dbUrl, ids)) === ids.length, {
        timeoutMs: 30_000,
        message: `all ${ids.length} acknowledged transactions committed`,
      });
      const tip = await tipHeight(dbUrl);
      await waitUntil(() => last() >= tip, {
        timeoutMs: 20_000,
        message: `the subscriber reaches the tip ${tip} (at ${last()})`,
      });
      done = true;
      const expected = Array.from({ length: tip }, (_, i) => i + 1);
      assert.deepEqual(heights, expected, `heights 1..${tip} in order, no gap, no repeat`);
    } finally {
      done = true;
      (socket as WebSocket | null)?.terminate();
      await load.stop();
      load.report(t);
      t.diagnostic(`stream: ${heights.length} blocks over ${connections} connections; ${closes.join('; ')}`);
      await reportProxy(t, logsBefore);
    }
    assert.ok(
      closes.some((c) => c.startsWith('close 1012')),
      'the subscriber was moved by a draining replica (1012) at least once',
    );
    assert.deepEqual(
      closes.filter((c) => !/^close (1012|4001) /.test(c)),
      [],
      'every reconnection through HAProxy succeeded at once; the replicas only closed to move it (drain, rebalance)',
    );
    assert.deepEqual(load.failures, [], 'no failed submit during the stream test either');
  });
});
