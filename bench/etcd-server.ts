import { spawn, type ChildProcess } from 'node:child_process';
import { constants, createWriteStream } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePortRun } from '../src/ports.js';
import { settlesWithin, sleep } from '../src/time.js';
import type { Cleanups } from './cleanups.js';

const INSTALL_HINT =
  'the etcd3 section needs the etcd server binary (Debian package etcd-server): ' +
  'run scripts/install-bench-deps.sh as root, or put `etcd` on the PATH';

/** The `etcd` binary on the PATH (or Debian's /usr/bin/etcd); a clear error naming the install script. */
export async function findEtcd(): Promise<string> {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), '/usr/bin'];
  for (const dir of dirs) {
    const path = join(dir, 'etcd');
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  throw new Error(INSTALL_HINT);
}

/**
 * A single-member etcd on free 127.0.0.1 ports, data in a fresh temporary directory, default
 * settings otherwise (fsync on, default heartbeat and election timeouts). Its log goes to a file
 * in that directory; stop() ends the process and removes the directory.
 */
export class EtcdServer {
  private constructor(
    readonly url: string,
    readonly version: string,
    readonly dir: string,
    /** Spawn → /health answers {"health":"true"}. */
    readonly startMs: number,
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    private readonly unregister: () => void,
  ) {}

  static async start(cleanups: Cleanups, timeoutMs = 30_000): Promise<EtcdServer> {
    const binary = await findEtcd();
    const dir = await mkdtemp(join(tmpdir(), 'baton-bench-etcd-'));
    const removeDir = cleanups.add('etcd data directory', () => rm(dir, { recursive: true, force: true }));
    // A port found free may be taken before etcd binds it: then etcd exits and we try new ports.
    for (let attempt = 1; ; attempt++) {
      const clientPort = await freePortRun(2);
      const peerPort = clientPort + 1;
      const url = `http://127.0.0.1:${clientPort}`;
      const peer = `http://127.0.0.1:${peerPort}`;
      const log = createWriteStream(join(dir, `etcd-${attempt}.log`)).on('error', () => undefined);
      const started = performance.now();
      const child = spawn(
        binary,
        [
          '--name=bench',
          `--data-dir=${join(dir, `data-${attempt}`)}`,
          `--listen-client-urls=${url}`,
          `--advertise-client-urls=${url}`,
          `--listen-peer-urls=${peer}`,
          `--initial-advertise-peer-urls=${peer}`,
          `--initial-cluster=bench=${peer}`,
          '--initial-cluster-state=new',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      child.stdout.pipe(log, { end: false });
      child.stderr.pipe(log, { end: false });
      void exited.then(() => log.end());
      const unregister = cleanups.add('etcd server', () => stopChild(child, exited));
      const healthy = await waitHealthy(url, exited, timeoutMs);
      if (healthy) {
        const version = await fetch(`${url}/version`)
          .then((r) => r.json() as Promise<{ etcdserver?: string }>)
          .then((v) => v.etcdserver ?? '?')
          .catch(() => '?');
        return new EtcdServer(url, version, dir, performance.now() - started, child, exited, () => {
          unregister();
          removeDir();
        });
      }
      await stopChild(child, exited);
      unregister();
      if (cleanups.stopping) throw new Error('interrupted while starting etcd');
      if (attempt >= 3) throw new Error(`etcd did not become healthy; see the logs in ${dir}`);
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async stop(keepDir = false): Promise<void> {
    await stopChild(this.child, this.exited);
    this.unregister();
    if (!keepDir) await rm(this.dir, { recursive: true, force: true });
  }
}

/** Polls GET /health until it reports healthy; false when etcd exits or the deadline passes. */
async function waitHealthy(url: string, exited: Promise<void>, timeoutMs: number): Promise<boolean> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (!gone && Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
      const body = (await res.json()) as { health?: string };
      if (body.health === 'true') return true;
    } catch {
      // not listening yet
    }
    await sleep(20);
  }
  return false;
}

/** SIGTERM, then SIGKILL after 5 s. */
async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await settlesWithin(exited, 5_000))) {
    child.kill('SIGKILL');
    await exited;
  }
}
