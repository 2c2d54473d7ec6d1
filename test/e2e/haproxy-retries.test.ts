import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { HaproxyProcess, parseRequestLog } from '../../src/cluster/haproxy.js';
import { waitUntil } from '../helpers/wait.js';

// The shipped HAProxy configuration against three fake replicas that are ready (GET /readyz
// answers 200) but behave like a replica caught mid-drain: one closes the connection as a
// request arrives, one answers 503 draining, one serves. Every request must end up served,
// each time, without the client retrying: the retry settings of deploy/haproxy/haproxy.cfg,
// checked deterministically (the rolling-restart test only meets these cases by chance).
// Also: the admin API is not forwarded.

type Behaviour = 'drop' | 'refuse' | 'serve';

interface FakeReplica {
  name: Behaviour;
  port: number;
  requests: number;
  upgrades: number;
  server: Server;
}

const DRAINING = JSON.stringify({ error: { code: 'draining', message: 'the replica is draining' } });

async function fakeReplica(name: Behaviour): Promise<FakeReplica> {
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer((req, res) => {
    if (req.url === '/readyz') return void res.end('{"ready":true}');
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      fake.requests++;
      if (name === 'drop') return void req.socket.destroy();
      const [status, payload] =
        name === 'refuse' ? [503, DRAINING] : [202, JSON.stringify({ bytes: Buffer.concat(chunks).length })];
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': payload.length });
      res.end(payload);
    });
  });
  server.on('upgrade', (req, socket, head) => {
    fake.upgrades++;
    if (name === 'drop') return void socket.destroy();
    if (name === 'refuse') {
      return void socket.end(
        `HTTP/1.1 503 draining\r\nconnection: close\r\ncontent-length: ${DRAINING.length}\r\n\r\n${DRAINING}`,
      );
    }
    wss.handleUpgrade(req, socket, head, (ws) => ws.send(JSON.stringify({ type: 'heartbeat', height: 0 })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const fake: FakeReplica = { name, port, requests: 0, upgrades: 0, server };
  return fake;
}

let fakes: FakeReplica[] = [];
let proxy: HaproxyProcess | undefined;

before(async () => {
  fakes = [await fakeReplica('drop'), await fakeReplica('refuse'), await fakeReplica('serve')];
  proxy = await HaproxyProcess.start(
    fakes.map((f) => ({ name: f.name, port: f.port })),
    fakes.length,
  );
});

after(async () => {
  await proxy?.stop();
  for (const f of fakes) {
    f.server.closeAllConnections();
    await new Promise((resolve) => f.server.close(resolve));
  }
});

/** One POST over a fresh connection, its body sent `bodyDelayMs` after the headers. */
function post(port: number, body: string, bodyDelayMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(15_000, () => socket.destroy(new Error('no answer within 15 s')));
    let raw = '';
    socket.on('data', (data: Buffer) => (raw += data.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', payload = ''] = raw.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), body: payload });
    });
    socket.write(
      'POST /v1/lanes/main/txs HTTP/1.1\r\nhost: baton\r\ncontent-type: application/json\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`,
    );
    // A slow client: the body follows the headers later, in its own packet.
    void delay(bodyDelayMs).then(() => socket.write(body));
  });
}

test('a submit that a replica drops or refuses (503) is re-sent to another, even with a late body', async () => {
  const body = JSON.stringify({ body: 'x'.repeat(3000), signer: 'a'.repeat(64), signature: 'b'.repeat(128) });
  const answers = [];
  for (const bodyDelayMs of [0, 0, 0, 50, 50, 50]) answers.push(await post(proxy!.port, body, bodyDelayMs));
  assert.deepEqual(
    answers,
    answers.map(() => ({ status: 202, body: JSON.stringify({ bytes: Buffer.byteLength(body) }) })),
    'every submit answered 202 by the serving replica, with its whole body',
  );
  const [drop, refuse] = fakes;
  assert.ok(drop!.requests > 0 && refuse!.requests > 0, 'the dropping and refusing replicas were tried');
  const logs = proxy!.lines.map(parseRequestLog).filter((l) => l?.line.includes('"POST '));
  assert.ok(
    logs.some((l) => l!.retries > 0 && l!.redispatched),
    `haproxy logged redispatched retries:\n${logs.map((l) => l!.line).join('\n')}`,
  );
});

/** Stream requests HAProxy has logged (it logs each when its connection closes). */
const streamLogs = (): number => proxy!.lines.filter((l) => l.includes('"GET /v1/lanes/main/stream')).length;

test('a stream (WebSocket upgrade) that a replica drops or refuses is re-sent to another', async () => {
  for (let i = 0; i < 3; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${proxy!.port}/v1/lanes/main/stream?after=0`, {
      handshakeTimeout: 10_000,
    });
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (data: Buffer) => resolve(data.toString('utf8')));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
      ws.once('error', reject);
    });
    ws.terminate();
    assert.deepEqual(JSON.parse(first), { type: 'heartbeat', height: 0 });
    // HAProxy logs a stream when it closes: until then it still counts the serving replica's
    // connection, and leastconn would send the next client only to the two bad replicas.
    await waitUntil(() => streamLogs() > i, {
      timeoutMs: 5_000,
      message: `stream ${i + 1} closed in HAProxy`,
    });
  }
  const [drop, refuse] = fakes;
  assert.ok(drop!.upgrades > 0 && refuse!.upgrades > 0, 'the dropping and refusing replicas were tried');
});

test('the admin API is not reachable through HAProxy (it acts on whichever replica receives it)', async () => {
  const before = fakes.map((f) => f.requests);
  for (const path of ['/v1/admin/drain', '//v1//admin/drain']) {
    const res = await fetch(`${proxy!.url}${path}`, {
      method: 'POST',
      headers: { authorization: 'Bearer whatever' },
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(res.status, 404, path);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
  }
  assert.deepEqual(
    fakes.map((f) => f.requests),
    before,
    'no replica saw the admin request',
  );
});

test("clients are told HAProxy's idle timeout, not the replicas' (they would reuse closed connections)", async () => {
  const res = await fetch(`${proxy!.url}/readyz`, { signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('keep-alive'), 'timeout=8');
});
