import { TypedEvents } from '../events.js';
import { sleep } from '../time.js';
import type { ReplicaProcess } from './replica-process.js';

export interface WatchdogOptions {
  /** First restart delay; doubles with each consecutive failure. */
  backoffBaseMs: number;
  backoffCapMs: number;
  /** This many restarts within `crashLoopWindowMs` and the replica is given up on. */
  crashLoopRestarts: number;
  crashLoopWindowMs: number;
  /** A run that stayed up this long resets the back-off. */
  stableAfterMs: number;
  livenessIntervalMs: number;
  livenessTimeoutMs: number;
  /** Consecutive failed liveness checks before the replica is killed and restarted. */
  livenessFailures: number;
}

export const DEFAULT_WATCHDOG: WatchdogOptions = {
  backoffBaseMs: 500,
  backoffCapMs: 30_000,
  crashLoopRestarts: 5,
  crashLoopWindowMs: 60_000,
  stableAfterMs: 30_000,
  livenessIntervalMs: 1_000,
  livenessTimeoutMs: 1_000,
  livenessFailures: 3,
};

export interface WatchdogEvents extends Record<string, unknown> {
  /** A replica is restarted after `delayMs`; `attempt` counts consecutive failures. */
  restart: { id: string; cause: string; attempt: number; delayMs: number };
  /** A replica failed its liveness check too often and is being killed. */
  unhealthy: { id: string; cause: string };
  /** A crash-looping replica will not be restarted again. */
  'gave-up': { id: string; cause: string; restarts: number; windowMs: number };
}

interface Watched {
  replica: ReplicaProcess;
  startedAt: number;
  seenLive: boolean;
  failedChecks: number;
  /** Consecutive failed runs (reset by a stable run). */
  attempt: number;
  restarts: number[];
  killCause: string | null;
  gaveUp: boolean;
  timer: NodeJS.Timeout | null;
}

/**
 * Supervises replica processes: restarts one that exits unexpectedly or fails its liveness
 * check, with exponential back-off, and gives up on one that crash-loops. A replica that exits
 * with code 0 (it was drained) is left alone.
 */
export class Watchdog {
  readonly events = new TypedEvents<WatchdogEvents>();
  private readonly watched = new Map<string, Watched>();
  private stopped = false;

  constructor(private readonly options: WatchdogOptions = DEFAULT_WATCHDOG) {}

  watch(replica: ReplicaProcess): void {
    this.watched.set(replica.options.id, {
      replica,
      startedAt: Date.now(),
      seenLive: false,
      failedChecks: 0,
      attempt: 0,
      restarts: [],
      killCause: null,
      gaveUp: false,
      timer: null,
    });
  }

  /** Whether the watchdog gave up on replica `id`. */
  gaveUp(id: string): boolean {
    return this.watched.get(id)?.gaveUp ?? false;
  }

  /** Called with every replica exit. */
  exited(id: string, code: number | null, signal: NodeJS.Signals | null): void {
    const w = this.watched.get(id);
    if (!w || this.stopped || w.gaveUp) return;
    if (code === 0 && w.killCause === null) return; // drained on purpose
    const cause = w.killCause ?? (signal ? `exited on ${signal}` : `exited with code ${code}`);
    w.killCause = null;
    const now = Date.now();
    if (now - w.startedAt >= this.options.stableAfterMs) w.attempt = 0;
    w.restarts = w.restarts.filter((t) => now - t < this.options.crashLoopWindowMs);
    if (w.restarts.length >= this.options.crashLoopRestarts) {
      w.gaveUp = true;
      this.events.emit('gave-up', {
        id,
        cause,
        restarts: w.restarts.length,
        windowMs: this.options.crashLoopWindowMs,
      });
      return;
    }
    w.attempt++;
    const delayMs = Math.min(this.options.backoffCapMs, this.options.backoffBaseMs * 2 ** (w.attempt - 1));
    w.restarts.push(now);
    this.events.emit('restart', { id, cause, attempt: w.attempt, delayMs });
    w.timer = setTimeout(() => {
      w.timer = null;
      if (this.stopped || w.replica.running) return;
      w.startedAt = Date.now();
      w.seenLive = false;
      w.failedChecks = 0;
      w.replica.start();
    }, delayMs);
  }

  /** Checks liveness of every running replica until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !this.stopped) {
      await Promise.all([...this.watched.values()].map((w) => this.check(w)));
      await sleep(this.options.livenessIntervalMs, signal);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watched.values()) if (w.timer) clearTimeout(w.timer);
  }

  private async check(w: Watched): Promise<void> {
    if (!w.replica.running || w.killCause !== null) return;
    const result = await probe(`${w.replica.url}/livez`, this.options.livenessTimeoutMs);
    if (result === null) {
      w.seenLive = true;
      w.failedChecks = 0;
      return;
    }
    // A replica still starting (loading, migrating) is not judged until it first answered live.
    if (!w.seenLive || this.stopped || !w.replica.running) return;
    if (++w.failedChecks < this.options.livenessFailures) return;
    const cause = `failed ${w.failedChecks} liveness checks (${result})`;
    w.killCause = cause;
    this.events.emit('unhealthy', { id: w.replica.options.id, cause });
    w.replica.signal('SIGKILL');
  }
}

/** null when /livez answers 200, else why not. */
async function probe(url: string, timeoutMs: number): Promise<string | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json().catch(() => ({}))) as { reason?: string };
    return res.ok ? null : (body.reason ?? `HTTP ${res.status}`);
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    return name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'not answering';
  }
}
