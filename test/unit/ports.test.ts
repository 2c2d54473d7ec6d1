import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { assertPortFree, freePortRun } from '../../src/ports.js';

test('a run of free ports lies below the ephemeral range and every port of it can be bound', async () => {
  const [ephemeralStart] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'))
    .trim()
    .split(/\s+/)
    .map(Number);
  for (let i = 0; i < 20; i++) {
    const base = await freePortRun(3);
    assert.ok(base >= 10_000 && base + 3 <= ephemeralStart!, `run ${base}..${base + 2}`);
    for (let p = base; p < base + 3; p++) await assertPortFree(p);
  }
});

test('a taken port is reported by number', async () => {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  try {
    await assert.rejects(assertPortFree(port), { message: `port ${port} is already in use` });
  } finally {
    server.close();
  }
});
