import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/ports.js';
import { settlesWithin, sleep } from '../src/time.js';

// A minimal copy of test/helpers/haproxy.ts (tsconfig.build.json builds only src/ and bench/):
// the shipped deploy/haproxy/haproxy.cfg with only the two `bind` lines and the `server` lines
// replaced, run by a real `haproxy -db`.

const SHIPPED_CONFIG = fileURLToPath(new URL('../../deploy/haproxy/haproxy.cfg', import.meta.url));
const FRONTEND_BIND = /^([ \t]*)bind[ \t]+:8080[ \t]*$/m;
const STATS_BIND = /^([ \t]*)bind[ \t]+127\.0\.0\.1:8404[ \t]*$/m;
const SERVER_LINE = /^([ \t]*)server[ \t]+\S+[ \t]+127\.0\.0\.1:\d+[ \t]*$/;

export interface HaproxyServer {
  name: string;
  port: number;
}

function configFromTemplate(
  template: string,
  port: number,
  statsPort: number,
  servers: HaproxyServer[],
): string {
  const missing = (what: string): Error => new Error(`${SHIPPED_CONFIG} has no ${what} to substitute`);
  if (!FRONTEND_BIND.test(template)) throw missing('frontend "bind :8080"');
  if (!STATS_BIND.test(template)) throw missing('stats "bind 127.0.0.1:8404"');
  const lines = template
    .replace(FRONTEND_BIND, (_m, indent: string) => `${indent}bind 127.0.0.1:${port}`)
    .replace(STATS_BIND, (_m, indent: string) => `${indent}bind 127.0.0.1:${statsPort}`)
    .split('\n');
  const at = lines.findIndex((l) => SERVER_LINE.test(l));
  if (at < 0) throw missing('"server NAME 127.0.0.1:PORT" lines');
  let count = 0;
  while (at + count < lines.length && SERVER_LINE.test(lines[at + count]!)) count++;
  const indent = SERVER_LINE.exec(lines[at]!)![1]!;
  lines.splice(at, count, ...servers.map((s) => `${indent}server ${s.name} 127.0.0.1:${s.port}`));
  return lines.join('\n');
}

/** True if something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export class BenchHaproxy {
  /** HAProxy's last output lines (request logs, server state changes), for failure messages. */
  readonly lines: string[] = [];
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    readonly statsPort: number,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const keep = (chunk: Buffer): void => {
      this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      if (this.lines.length > 2_000) this.lines.splice(0, this.lines.length - 1_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts `haproxy -db` on free loopback ports; resolves once it accepts and every server is UP. */
  static async start(servers: HaproxyServer[], timeoutMs = 20_000): Promise<BenchHaproxy> {
    const [port, statsPort] = [await freePort(), await freePort()];
    const dir = await mkdtemp(join(tmpdir(), 'baton-bench-haproxy-'));
    const file = join(dir, 'haproxy.cfg');
    await writeFile(
      file,
      configFromTemplate(await readFile(SHIPPED_CONFIG, 'utf8'), port, statsPort, servers),
    );
    const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const spawnError = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', resolve);
    });
    if (spawnError) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`could not start haproxy (apt-get install haproxy): ${spawnError.message}`);
    }
    const proxy = new BenchHaproxy(child, dir, port, statsPort);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!proxy.running) {
        await proxy.stop();
        throw new Error(`haproxy exited during start:\n${proxy.lines.slice(-20).join('\n')}`);
      }
      const states = (await accepts(port)) ? await proxy.serverStates().catch(() => new Map()) : new Map();
      if ([...states.values()].filter((s) => s === 'UP').length >= servers.length) return proxy;
      if (Date.now() > deadline) {
        await proxy.stop();
        throw new Error(`haproxy not ready with every server UP within ${timeoutMs} ms`);
      }
      await sleep(50);
    }
  }

  /** Server name → status (`UP`, `DOWN`, `UP 1/2`, …) from the stats CSV. */
  async serverStates(): Promise<Map<string, string>> {
    const res = await fetch(`http://127.0.0.1:${this.statsPort}/stats;csv`, {
      signal: AbortSignal.timeout(2_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`haproxy stats answered ${res.status}`);
    const [header, ...rows] = text.trim().split('\n');
    const columns = header!.replace(/^# /, '').split(',');
    const states = new Map<string, string>();
    for (const row of rows) {
      const cells = row.split(',');
      const record = Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? '']));
      if (record['pxname'] === 'replicas' && record['svname'] !== 'BACKEND')
        states.set(record['svname']!, record['status']!);
    }
    return states;
  }

  /** SIGTERM, SIGKILL after `timeoutMs`; removes the generated configuration. Idempotent. */
  async stop(timeoutMs = 5_000): Promise<void> {
    if (this.running) {
      this.child.kill('SIGTERM');
      if (!(await settlesWithin(this.exited, timeoutMs))) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
