import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePortRun } from '../src/ports.js';
import type { Cleanups } from './cleanups.js';
import { Progress } from './progress.js';

export interface UpRun {
  /** From spawning `baton up` to its line containing "ready in". */
  readyMs: number;
  /** What `baton up` itself printed ("ready in X s"). */
  reported: string;
  /** From SIGINT to the process's exit. */
  stopMs: number;
  exitCode: number | null;
}

export interface UpResult {
  replicas: number;
  /** First start on an empty data directory (includes initdb). */
  cold: UpRun;
  /** Second start on the same directory. */
  warm: UpRun;
}

const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;

/** Kills what a `baton up` left behind: its process group, then its PostgreSQL by pid file. */
async function killLeftovers(pid: number | undefined, dataDir: string): Promise<void> {
  if (pid !== undefined) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const pidFile = await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').catch(() => '');
  const pgPid = Number(pidFile.split('\n')[0]);
  if (Number.isInteger(pgPid) && pgPid > 0) {
    try {
      process.kill(pgPid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function upOnce(
  cliPath: string,
  dataDir: string,
  replicas: number,
  cleanups: Cleanups,
): Promise<UpRun> {
  const port = await freePortRun(replicas);
  const started = performance.now();
  // Its own process group, so a failure can take down everything it started at once.
  const child = spawn(
    process.execPath,
    [cliPath, 'up', '--data-dir', dataDir, '--port', String(port), '--replicas', String(replicas)],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const unregister = cleanups.add('baton up', () => killLeftovers(child.pid, dataDir));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output: string[] = [];
  child.stderr.on('data', (d: Buffer) => output.push(d.toString()));
  try {
    const reported = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no "ready in" line')), READY_TIMEOUT_MS);
      createInterface({ input: child.stdout }).on('line', (line) => {
        output.push(line);
        if (line.includes('ready in')) {
          clearTimeout(timer);
          resolve(line);
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`baton up exited with code ${code}`));
      });
    });
    const readyMs = performance.now() - started;
    const stopping = performance.now();
    child.kill('SIGINT');
    const exitCode = await Promise.race([
      exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('baton up did not exit after SIGINT')), STOP_TIMEOUT_MS),
      ),
    ]);
    const stopMs = performance.now() - stopping;
    unregister();
    return { readyMs, reported: /ready in [^.]*\.\d+ s/.exec(reported)?.[0] ?? reported, stopMs, exitCode };
  } catch (error) {
    await killLeftovers(child.pid, dataDir);
    unregister();
    const tail = output.join('\n').slice(-2000);
    throw new Error(`${error instanceof Error ? error.message : String(error)}; output:\n${tail}`, {
      cause: error,
    });
  }
}

/** `baton up` from spawn to "ready in", on an empty data directory and again on the same one. */
export async function upSection(cleanups: Cleanups, cliPath: string, replicas = 3): Promise<UpResult> {
  const progress = new Progress('up');
  const dir = await mkdtemp(join(tmpdir(), 'baton-bench-up-'));
  await chmod(dir, 0o755);
  const removeDir = cleanups.add('baton up directory', () => rm(dir, { recursive: true, force: true }));
  try {
    const dataDir = join(dir, 'data');
    progress.update('cold start (empty data directory, initdb)');
    const cold = await upOnce(cliPath, dataDir, replicas, cleanups);
    progress.update('warm start (same data directory)');
    const warm = await upOnce(cliPath, dataDir, replicas, cleanups);
    progress.done(`cold ${(cold.readyMs / 1000).toFixed(1)} s, warm ${(warm.readyMs / 1000).toFixed(1)} s`);
    return { replicas, cold, warm };
  } finally {
    removeDir();
    await rm(dir, { recursive: true, force: true });
  }
}
