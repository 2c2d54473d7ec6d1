import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { settlesWithin } from '../time.js';

export interface ReplicaProcessOptions {
  id: string;
  port: number;
  databaseUrl: string;
  lanes: string[];
  leaseTtlMs: number;
  /** More `baton node` arguments. */
  extraArgs?: string[];
  logFile: string;
  /** Called with every JSON log line the replica writes. */
  onLogLine?: (line: Record<string, unknown>) => void;
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
  /** Node arguments before `node …`; defaults to this process's own way of running the CLI. */
  entry?: string[];
}

// Run by tsx from the sources, or by node from dist/: the replica runs the same way.
const MAIN = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../cli/main.ts' : '../cli/main.js', import.meta.url),
);

/** One `baton node` child process, its log file, and a way to stop it. */
export class ReplicaProcess {
  readonly url: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private log: WriteStream | null = null;
  /** How the last run ended; null while running or before the first exit. */
  lastExit: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(readonly options: ReplicaProcessOptions) {
    this.url = `http://127.0.0.1:${options.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process; after it exited, starts it again (same id, port and log file). */
  start(): void {
    if (this.running) throw new Error(`replica ${this.options.id} is already running`);
    this.log?.end(); // the previous run's stream, when restarted after a crash
    const o = this.options;
    const args = [
      ...(o.entry ?? [...process.execArgv, MAIN]),
      'node',
      '--id',
      o.id,
      '--port',
      String(o.port),
      '--lanes',
      o.lanes.join(','),
      '--lease-ttl',
      String(o.leaseTtlMs),
      '--watch-parent',
      ...(o.extraArgs ?? []),
    ];
    this.log = createWriteStream(o.logFile, { flags: 'a' });
    const child = spawn(process.execPath, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, BATON_DATABASE_URL: o.databaseUrl },
    });
    this.child = child;
    this.lastExit = null;
    this.exited = new Promise((done) =>
      child.once('exit', (code, signal) => {
        this.lastExit = { code, signal };
        o.onExit?.(code, signal);
        done();
      }),
    );
    child.stderr.pipe(this.log, { end: false });
    createInterface({ input: child.stdout }).on('line', (line) => {
      this.log?.write(line + '\n');
      if (!o.onLogLine || !line.startsWith('{')) return;
      try {
        o.onLogLine(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    });
  }

  /** Sends `signal` (SIGKILL, SIGSTOP, SIGCONT, …) to the replica. */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Resolves when the process has exited. */
  waitExit(): Promise<void> {
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if the replica has not exited within `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (this.running) {
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const done = await settlesWithin(this.exited, timeoutMs);
      if (!done) {
        child.kill('SIGKILL');
        await this.exited;
      }
    }
    this.child = null;
    await new Promise<void>((resolve) => (this.log ? this.log.end(resolve) : resolve()));
    this.log = null;
  }
}
