import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { freePortRun } from '../ports.js';
import { settlesWithin } from '../time.js';
import { waitUntil } from '../wait.js';

/**
 * The shipped configuration (from the sources or from dist/): tests and benchmarks run it with
 * only the ports and server addresses replaced.
 */
export const SHIPPED_CONFIG =
  ['../../deploy/haproxy/haproxy.cfg', '../../../deploy/haproxy/haproxy.cfg']
    .map((p) => fileURLToPath(new URL(p, import.meta.url)))
    .find((p) => existsSync(p)) ?? 'deploy/haproxy/haproxy.cfg';

export interface HaproxyServer {
  name: string;
  port: number;
}

const FRONTEND_BIND = /^([ \t]*)bind[ \t]+:8080[ \t]*$/m;
const STATS_BIND = /^([ \t]*)bind[ \t]+127\.0\.0\.1:8404[ \t]*$/m;
const SERVER_LINE = /^([ \t]*)server[ \t]+\S+[ \t]+127\.0\.0\.1:\d+[ \t]*$/;

/**
 * The shipped haproxy.cfg with the frontend bound to `port`, the stats page to `statsPort`,
 * and the `server` lines replaced by `servers`. Fails if the template lost one of these lines,
 * so the test never silently runs a different configuration.
 */
export function configFromTemplate(
  template: string,
  port: number,
  statsPort: number,
  servers: readonly HaproxyServer[],
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
  if (lines.slice(at + count).some((l) => /^\s*server\s/.test(l)))
    throw new Error(`${SHIPPED_CONFIG}: the server lines are expected in one block`);
  const indent = SERVER_LINE.exec(lines[at]!)![1]!;
  lines.splice(at, count, ...servers.map((s) => `${indent}server ${s.name} 127.0.0.1:${s.port}`));
  return lines.join('\n');
}

/** One HTTP log line of HAProxy's `option httplog`, the fields tests look at. */
export interface HaproxyRequestLog {
  line: string;
  server: string;
  status: number;
  /** Connection retries and L7 retries; `redispatched` when the last went to another server. */
  retries: number;
  redispatched: boolean;
  /** Termination state, e.g. `----`, `SC--`, `sH--`. */
  termination: string;
}

// ... frontend backend/server Tq/Tw/Tc/Tr/Ta status bytes - - flags act/fe/be/srv/retries ...
const HTTPLOG =
  /\s(\S+)\/(\S+) -?\d+\/-?\d+\/-?\d+\/-?\d+\/\+?-?\d+ (-?\d+) \+?\d+ \S+ \S+ (\S{4}) \d+\/\d+\/\d+\/\d+\/(\+?)(\d+) /;

export function parseRequestLog(line: string): HaproxyRequestLog | null {
  const m = HTTPLOG.exec(line);
  if (!m) return null;
  return {
    line,
    server: m[2]!,
    status: Number(m[3]),
    termination: m[4]!,
    redispatched: m[5] === '+',
    retries: Number(m[6]),
  };
}

/** A real `haproxy -db` process running the shipped configuration against test replicas. */
export class HaproxyProcess {
  /** Every line HAProxy wrote (request logs, server state changes, warnings), bounded. */
  readonly lines: string[] = [];
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    readonly statsPort: number,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    const keep = (line: string): void => {
      if (this.lines.length < 200_000) this.lines.push(line);
    };
    createInterface({ input: child.stdout! }).on('line', keep);
    createInterface({ input: child.stderr! }).on('line', keep);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts `haproxy` from PATH in the foreground (`-db`) on free ports and waits until the
   * frontend accepts connections and at least `minUp` servers are UP. Throws (never skips)
   * when haproxy is not installed.
   */
  static async start(
    servers: readonly HaproxyServer[],
    minUp = 1,
    timeoutMs = 20_000,
  ): Promise<HaproxyProcess> {
    const port = await freePortRun(2);
    const statsPort = port + 1;
    const dir = await mkdtemp(join(tmpdir(), 'baton-haproxy-'));
    const file = join(dir, 'haproxy.cfg');
    await writeFile(
      file,
      configFromTemplate(await readFile(SHIPPED_CONFIG, 'utf8'), port, statsPort, servers),
    );
    const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const spawned = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', resolve);
    });
    if (spawned) {
      await rm(dir, { recursive: true, force: true });
      const missing = (spawned as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(
        missing
          ? 'haproxy is not on PATH: this test needs a real HAProxy (Debian: apt-get install haproxy; .ci/run installs it)'
          : `could not start haproxy: ${spawned.message}`,
      );
    }
    const proxy = new HaproxyProcess(child, dir, port, statsPort);
    try {
      const outcome = await waitUntil(
        async () => {
          if (!proxy.running) return 'exited';
          if (!(await accepts(port))) return false;
          const up = [...(await proxy.serverStates()).values()].filter((s) => s === 'UP').length;
          return up >= minUp && 'ready';
        },
        { timeoutMs, message: `haproxy on port ${port} accepting with ${minUp} server(s) UP` },
      );
      if (outcome === 'exited') throw new Error('haproxy exited during start');
    } catch (error) {
      await proxy.stop();
      const output = proxy.lines.slice(-50).join('\n');
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}\nhaproxy output:\n${output}`,
        { cause: error },
      );
    }
    return proxy;
  }

  /** The stats CSV rows of the `replicas` backend (its servers and BACKEND), by server name. */
  async stats(): Promise<Map<string, Record<string, string>>> {
    const res = await fetch(`http://127.0.0.1:${this.statsPort}/stats;csv`, {
      signal: AbortSignal.timeout(2_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`stats answered ${res.status}`);
    const [header, ...rows] = text.trim().split('\n');
    const columns = header!.replace(/^# /, '').split(',');
    const result = new Map<string, Record<string, string>>();
    for (const row of rows) {
      const cells = row.split(',');
      const record = Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? '']));
      if (record['pxname'] === 'replicas') result.set(record['svname']!, record);
    }
    return result;
  }

  /** Server name → status (`UP`, `DOWN`, `UP 1/2`, `DOWN 1/2`, `MAINT`, …). */
  async serverStates(): Promise<Map<string, string>> {
    const states = new Map<string, string>();
    for (const [name, row] of await this.stats()) if (name !== 'BACKEND') states.set(name, row['status']!);
    return states;
  }

  /**
   * Per server: connection errors, response errors, retries, redispatches, 5xx answers, and
   * state changes, e.g. `r1 econ=2 eresp=0 wretr=2 wredis=2 5xx=0 chkdown=3`.
   */
  async counters(): Promise<string[]> {
    const keys = ['econ', 'eresp', 'wretr', 'wredis', 'hrsp_5xx', 'chkdown'];
    return [...(await this.stats())].map(
      ([name, row]) => `${name} ${keys.map((k) => `${k.replace('hrsp_', '')}=${row[k] || 0}`).join(' ')}`,
    );
  }

  /** Waits until HAProxy reports `server` in `state` (exactly, e.g. `UP`, not `UP 1/2`). */
  async waitServer(server: string, state: 'UP' | 'DOWN', timeoutMs = 20_000): Promise<void> {
    await waitUntil(async () => (await this.serverStates()).get(server) === state, {
      timeoutMs,
      message: `haproxy sees ${server} ${state}`,
    });
  }

  /** HTTP request log lines parsed so far. */
  requestLogs(): HaproxyRequestLog[] {
    return this.lines.map(parseRequestLog).filter((l): l is HaproxyRequestLog => l !== null);
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
