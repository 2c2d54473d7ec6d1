import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { TcpProxy } from '../../src/chaos/tcp-proxy.js';
import { waitUntil } from '../helpers/wait.js';

/** An echo server that remembers its connections. */
async function echoServer(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => socket.write(chunk));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0, sockets };
}

async function client(
  port: number,
): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = connect(port, '127.0.0.1');
  let data = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  await once(socket, 'connect');
  return { socket, received: () => data, closed: () => closed };
}

describe('the chaos TCP proxy', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function setup(): Promise<{ proxy: TcpProxy; echo: Awaited<ReturnType<typeof echoServer>> }> {
    const echo = await echoServer();
    cleanups.push(() => new Promise<void>((resolve) => echo.server.close(() => resolve())));
    cleanups.push(() => echo.sockets.forEach((s) => s.destroy()));
    const proxy = new TcpProxy('127.0.0.1', 1);
    proxy.setTarget('127.0.0.1', echo.port);
    await proxy.start();
    cleanups.push(() => proxy.stop());
    return { proxy, echo };
  }

  test('delay: every chunk arrives late but in order', async () => {
    const { proxy } = await setup();
    const c = await client(proxy.port);
    cleanups.push(() => void c.socket.destroy());
    proxy.setMode('delay', { fixedMs: 40, jitterMs: 30 });
    const started = Date.now();
    const expected = Array.from({ length: 30 }, (_, i) => `<${i}>`).join('');
    for (let i = 0; i < 30; i++) c.socket.write(`<${i}>`);
    await waitUntil(() => c.received().length >= expected.length, { message: 'the echo of every chunk' });
    assert.equal(c.received(), expected);
    assert.ok(Date.now() - started >= 80, 'both directions were delayed by at least the fixed delay');
    proxy.setMode('pass');
    c.socket.write('!');
    await waitUntil(() => c.received().endsWith('!'), { message: 'traffic after the delay ends' });
  });

  test('blackhole: connections stay open, data is held, then delivered in order', async () => {
    const { proxy } = await setup();
    const c = await client(proxy.port);
    cleanups.push(() => void c.socket.destroy());
    c.socket.write('before;');
    await waitUntil(() => c.received() === 'before;');
    proxy.setMode('blackhole');
    c.socket.write('held;');
    proxy.setMode('pass');
    await waitUntil(() => c.received() === 'before;held;', { message: 'held data delivered after healing' });
    assert.equal(c.closed(), false);
  });

  test('half-open: the server sees its client gone, the client hears nothing until the network heals', async () => {
    const { proxy, echo } = await setup();
    const c = await client(proxy.port);
    cleanups.push(() => void c.socket.destroy());
    c.socket.write('x');
    await waitUntil(() => c.received() === 'x');
    const serverSide = echo.sockets[0]!;
    const serverClosed = once(serverSide, 'close');
    proxy.setMode('half-open');
    await serverClosed;
    c.socket.write('into the void');
    assert.equal(c.closed(), false, 'the client still believes in its connection');
    assert.equal(proxy.connections, 1);
    proxy.setMode('pass');
    await waitUntil(() => c.closed(), { message: 'the healed network resets the stale connection' });
    assert.equal(c.received(), 'x');
    const fresh = await client(proxy.port);
    cleanups.push(() => void fresh.socket.destroy());
    fresh.socket.write('again');
    await waitUntil(() => fresh.received() === 'again', { message: 'new connections work after healing' });
  });

  test('refuse: existing connections are reset and new ones refused', async () => {
    const { proxy } = await setup();
    const c = await client(proxy.port);
    cleanups.push(() => void c.socket.destroy());
    proxy.setMode('refuse');
    await waitUntil(() => c.closed(), { message: 'the existing connection is reset' });
    const refused = connect(proxy.port, '127.0.0.1');
    // events.once would reject on the reset's 'error'; the close that follows is what counts.
    await new Promise<void>((resolve) => refused.on('error', () => undefined).on('close', () => resolve()));
    proxy.setMode('pass');
    const fresh = await client(proxy.port);
    cleanups.push(() => void fresh.socket.destroy());
    fresh.socket.write('ok');
    await waitUntil(() => fresh.received() === 'ok');
  });
});
