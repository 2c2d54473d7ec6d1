import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { BatonError } from '../../src/errors.js';
import { refuseSocket } from '../../src/api/http.js';
import { settlesWithin } from '../../src/time.js';
import { send } from '../helpers/http.js';

describe('refuseSocket (answers on sockets Node hands over: upgrades, CONNECT)', () => {
  it('answers a coded error and frees the socket, even while the peer is still sending', async () => {
    const sockets = new Set<Socket>();
    const server = http.createServer();
    server.on('connection', (socket) => sockets.add(socket));
    server.on('upgrade', (_req, socket: Socket) => refuseSocket(socket, new BatonError('not_found')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      // Far more than the socket buffers hold: most of it is still unsent when the answer comes.
      const answer = await send(`http://127.0.0.1:${port}`, 'POST', '/v1/lanes/main/txs', {
        headers: { connection: 'upgrade', upgrade: 'h2c' },
        body: Buffer.alloc(4 * 1024 * 1024, 0x20),
      });
      assert.equal(answer.status, 404);
      assert.match(String(answer.headers['content-type']), /^application\/json/);
      assert.deepEqual(JSON.parse(answer.text), new BatonError('not_found').toJSON());
      // The HTTP server no longer tracks an upgraded socket: one left open would block close()
      // for ever, and with it a replica's graceful stop (closeAllConnections cannot reach it).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      assert.ok(await settlesWithin(closed, 5_000), 'the server closes: the refused socket was freed');
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });
});
