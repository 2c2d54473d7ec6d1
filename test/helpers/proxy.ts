import { TcpProxy } from '../../src/chaos/tcp-proxy.js';

/**
 * A TCP proxy in front of the database at `url`, to fail one client's connection the way networks
 * fail; `viaProxy` is `url` through it. The proxy is stopped by the file's cleanups.
 */
export async function proxied(
  url: string,
  cleanups: Array<() => Promise<unknown>>,
): Promise<{ proxy: TcpProxy; viaProxy: URL }> {
  const target = new URL(url);
  const proxy = new TcpProxy(target.hostname, Number(target.port));
  await proxy.start();
  cleanups.push(() => proxy.stop());
  const viaProxy = new URL(url);
  viaProxy.port = String(proxy.port);
  return { proxy, viaProxy };
}
