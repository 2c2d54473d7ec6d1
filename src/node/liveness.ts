import { monotonicMs } from '../time.js';

export interface LivenessOptions {
  /** An event loop that fell this far behind its timer counts as stalled. */
  eventLoopStallMs: number;
  /** How long /livez keeps reporting a stall after it happened, so a watchdog sees it. */
  reportForMs: number;
  /** Called once per event loop stall, after the loop runs again. */
  onEventLoopStall?: (stalledMs: number) => void;
}

export interface LivenessReport {
  live: boolean;
  reason?: string;
}

const TICK_MS = 100;

/**
 * Liveness that reflects progress, not just a running process: a recent event loop stall, or
 * a led lane that stopped committing while transactions wait, makes the replica report itself
 * unhealthy for a while, so a supervisor can restart it.
 */
export class Liveness {
  private timer: NodeJS.Timeout | null = null;
  private lastTick = 0;
  private problem: { reason: string; at: number } | null = null;

  constructor(private readonly options: LivenessOptions) {}

  start(): void {
    this.lastTick = monotonicMs();
    this.timer = setInterval(() => {
      const now = monotonicMs();
      const lateMs = now - this.lastTick - TICK_MS;
      this.lastTick = now;
      if (lateMs >= this.options.eventLoopStallMs) {
        this.report(`event loop stalled for ${Math.round(lateMs)} ms`);
        this.options.onEventLoopStall?.(Math.round(lateMs));
      }
    }, TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Records a reason to be considered unhealthy, reported for `reportForMs` from now. */
  report(reason: string): void {
    this.problem = { reason, at: monotonicMs() };
  }

  current(): LivenessReport {
    const problem = this.problem;
    if (problem && monotonicMs() - problem.at < this.options.reportForMs) {
      return { live: false, reason: problem.reason };
    }
    return { live: true };
  }
}
