import { createServer } from 'node:net';
import { readFile } from 'node:fs/promises';

/** A TCP port on 127.0.0.1 that was free a moment ago, below the ephemeral range (see freePortRun). */
export async function freePort(): Promise<number> {
  return freePortRun(1);
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
 * The first of `count` consecutive free ports, taken below the kernel's ephemeral range: a port
 * the kernel hands out for bind(0) sits inside that range, where an outgoing connection may take
 * it between the check and the moment a server binds it.
 */
export async function freePortRun(count: number): Promise<number> {
  const low = 10_000;
  const ephemeralStart = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .then((text) => Number(text.trim().split(/\s+/)[0]))
    .catch(() => NaN);
  // Where the range starts lower than this or is unknown, the common default start.
  const high = (ephemeralStart > low + count ? ephemeralStart : 32_768) - count;
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
