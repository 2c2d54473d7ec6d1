import { createServer, connect, type Server, type Socket } from 'node:net';

export type ProxyMode = 'pass' | 'delay' | 'blackhole' | 'half-open' | 'refuse';

export interface DelaySettings {
  /** Added to every chunk, each direction. */
  fixedMs: number;
  /** Plus a uniform random extra in [0, jitterMs]; chunks never overtake each other. */
  jitterMs: number;
}

/** One direction of a connection: chunks wait here while delayed, and leave in order. */
class Lane {
  private readonly queue: Array<{ at: number; chunk: Buffer }> = [];
  private lastAt = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly out: () => Socket | null) {}

  get idle(): boolean {
    return this.queue.length === 0;
  }

  send(chunk: Buffer, delayMs: number): void {
    if (delayMs <= 0 && this.queue.length === 0) {
      this.out()?.write(chunk);
      return;
    }
    const at = Math.max(Date.now() + delayMs, this.lastAt);
    this.lastAt = at;
    this.queue.push({ at, chunk });
    this.schedule();
  }

  clear(): void {
    this.queue.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.queue[0]!.at - Date.now()));
  }

  private flush(): void {
    this.timer = null;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now) this.out()?.write(this.queue.shift()!.chunk);
    this.schedule();
  }
}

class Pair {
  upstream: Socket | null = null;
  /** The upstream end was closed on purpose (half-open): the client end stays open and silent. */
  severed = false;
  readonly toUpstream = new Lane(() => this.upstream);
  readonly toClient = new Lane(() => this.client);

  constructor(readonly client: Socket) {}
}

/**
 * A TCP proxy on 127.0.0.1 that can fail the ways networks fail:
 * - `pass`: forwards normally;
 * - `delay`: forwards every chunk after a fixed delay plus jitter, in order (a slow database);
 * - `blackhole`: keeps every connection open but forwards nothing, new ones included (a hung
 *   network: neither side learns that the other is gone until its own timeouts fire);
 * - `half-open`: closes the upstream end of every connection, so the server sees its client
 *   gone, while the client's end stays open and hears nothing (a connection the client still
 *   believes in); new connections are held the same way. Leaving this mode resets those client
 *   ends, as the first packet over a healed network would;
 * - `refuse`: resets existing connections and refuses new ones (the peer died).
 */
export class TcpProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<Pair>();
  private modeValue: ProxyMode = 'pass';
  private delay: DelaySettings = { fixedMs: 0, jitterMs: 0 };
  private targetHost: string;
  private targetPort: number;
  port = 0;

  constructor(targetHost: string, targetPort: number) {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
  }

  get mode(): ProxyMode {
    return this.modeValue;
  }

  get connections(): number {
    return this.pairs.size;
  }

  /** Where new connections go (existing ones keep their upstream). */
  setTarget(host: string, port: number): void {
    this.targetHost = host;
    this.targetPort = port;
  }

  async start(port = 0): Promise<number> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : port;
    return this.port;
  }

  setMode(mode: ProxyMode, delay?: DelaySettings): void {
    const previous = this.modeValue;
    this.modeValue = mode;
    if (mode === 'delay') this.delay = delay ?? { fixedMs: 50, jitterMs: 20 };
    for (const pair of [...this.pairs]) {
      if (mode === 'refuse' || (previous === 'half-open' && mode !== 'half-open' && pair.severed)) {
        this.reset(pair);
      } else if (mode === 'half-open') {
        this.sever(pair);
      } else if (mode === 'blackhole') {
        pair.client.pause();
        pair.upstream?.pause();
      } else {
        pair.client.resume();
        pair.upstream?.resume();
      }
    }
  }

  async stop(): Promise<void> {
    for (const pair of this.pairs) this.reset(pair);
    this.pairs.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.modeValue === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const pair = new Pair(client);
    this.pairs.add(pair);
    client.on('error', () => this.close(pair)).on('close', () => this.close(pair));
    // Forward by hand rather than pipe() so the modes can hold data back in both directions.
    client.on('data', (chunk: Buffer) => {
      if (!pair.severed) pair.toUpstream.send(chunk, this.currentDelay());
    });
    if (this.modeValue === 'half-open') {
      pair.severed = true; // held silent: never connected upstream
      client.pause();
      return;
    }
    const upstream = connect(this.targetPort, this.targetHost);
    pair.upstream = upstream;
    upstream.on('error', () => this.close(pair)).on('close', () => this.close(pair));
    upstream.on('data', (chunk: Buffer) => pair.toClient.send(chunk, this.currentDelay()));
    if (this.modeValue === 'blackhole') {
      client.pause();
      upstream.pause();
    }
  }

  private currentDelay(): number {
    if (this.modeValue !== 'delay') return 0;
    return this.delay.fixedMs + Math.random() * this.delay.jitterMs;
  }

  private sever(pair: Pair): void {
    if (pair.severed) return;
    pair.severed = true;
    pair.client.pause();
    pair.toUpstream.clear();
    pair.toClient.clear();
    pair.upstream?.destroy();
  }

  private reset(pair: Pair): void {
    this.pairs.delete(pair);
    pair.toUpstream.clear();
    pair.toClient.clear();
    if (!pair.client.destroyed) pair.client.resetAndDestroy();
    pair.upstream?.destroy();
  }

  private close(pair: Pair): void {
    // The upstream end of a severed pair closes on purpose; its client end stays open.
    if (pair.severed && !pair.client.destroyed && !pair.client.closed) {
      if (pair.upstream && (pair.upstream.destroyed || pair.upstream.closed)) return;
    }
    this.pairs.delete(pair);
    pair.toUpstream.clear();
    pair.toClient.clear();
    pair.client.destroy();
    pair.upstream?.destroy();
  }
}
