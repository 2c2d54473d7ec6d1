import { createServer } from 'node:net';
import { readFile } from 'node:fs/promises';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Throws a clear error when `port` on `host` is taken. */
export async function assertPortFree(port: number, host = '127.0.0.1'): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(error.code === 'EADDRINUSE' ? `port ${port} is already in use` : error.message)),
    );
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

/**
 * The first of `count` consecutive free ports, taken below the kernel's ephemeral range: ports
 * from freePort() sit inside it, where any outgoing connection may take the next one before a
 * server binds it.
 */
export async function freePortRun(count: number): Promise<number> {
  const ephemeralStart = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .then((text) => Number(text.trim().split(/\s+/)[0]))
    .catch(() => 32_768);
  const low = 10_000;
  const high =
    (Number.isInteger(ephemeralStart) && ephemeralStart > low + 1_000 ? ephemeralStart : 32_768) - count;
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = low + Math.floor(Math.random() * (high - low));
    const free = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        assertPortFree(base + i).then(
          () => true,
          () => false,
        ),
      ),
    );
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports between ${low} and ${high + count}`);
}
