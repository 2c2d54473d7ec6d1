import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { settlesWithin } from '../src/time.js';
import type { CandidateEvent } from './etcd-candidate.js';

const SCRIPT = fileURLToPath(new URL('./etcd-candidate.js', import.meta.url));

export interface CandidateOptions {
  id: string;
  endpoint: string;
  election: string;
  heartbeatKey: string;
  /** Lease TTL in seconds; undefined = the library's default. */
  ttlS: number | undefined;
  /** Called when the candidate reports an error or exits without being told to. */
  onFailure: (id: string, reason: string) => void;
}

/**
 * One etcd3 candidate process (bench/etcd-candidate.ts). Each start is a new incarnation that
 * campaigns under the value `id#incarnation`, so a restarted candidate is never mistaken for the
 * process that was killed.
 */
export class CandidateProcess {
  incarnation = 0;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private expectExit = false;
  private electedAt: number | undefined;

  constructor(readonly options: CandidateOptions) {}

  get value(): string {
    return `${this.options.id}#${this.incarnation}`;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** This incarnation's wall clock (ms since the epoch) when it logged that it was elected. */
  get elected(): number | undefined {
    return this.electedAt;
  }

  start(): void {
    if (this.running) throw new Error(`candidate ${this.options.id} is already running`);
    this.incarnation++;
    this.electedAt = undefined;
    this.expectExit = false;
    const o = this.options;
    const args = [SCRIPT, o.endpoint, o.election, this.value, o.heartbeatKey];
    if (o.ttlS !== undefined) args.push(String(o.ttlS));
    // stdin stays open: the candidate exits when it closes, i.e. when the benchmark is gone.
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((done) =>
      child.once('exit', (code, signal) => {
        if (!this.expectExit) o.onFailure(o.id, `exited unexpectedly (code ${code}, signal ${signal})`);
        done();
      }),
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.once('exit', () => {
      if (!this.expectExit && stderr) o.onFailure(o.id, stderr.trim());
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: CandidateEvent;
      try {
        e = JSON.parse(line) as CandidateEvent;
      } catch {
        return;
      }
      if (e.event === 'elected') this.electedAt = e.time;
      else if (e.event === 'error') o.onFailure(o.id, e.message);
    });
  }

  kill(signal: NodeJS.Signals): void {
    this.expectExit = true;
    this.child?.kill(signal);
  }

  waitExit(): Promise<void> {
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.kill('SIGTERM');
    if (!(await settlesWithin(this.exited, 5_000))) {
      this.child?.kill('SIGKILL');
      await this.exited;
    }
  }
}
