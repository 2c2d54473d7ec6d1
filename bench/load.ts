import { BatonError, createClient } from '../src/client/index.js';
import { benchKeys, signFaucet, type BenchKey } from './keys.js';

export interface SteadyLoadOptions {
  urls: string[];
  lane: string;
  ratePerSec: number;
  /** Submissions waiting for an answer at most; beyond it a tick's submissions are skipped (counted). */
  maxInFlight: number;
  keys: number;
}

export interface LoadStats {
  submitted: number;
  accepted: number;
  failed: number;
  skipped: number;
  failures: Record<string, number>;
}

const TICK_MS = 10;

/**
 * A light, steady stream of signed faucet transactions through the SDK. Each submission starts
 * at the next replica in turn (so all replicas take intake) and moves on when one fails; retries
 * reuse the transaction id, so they are never applied twice.
 */
export class SteadyLoad {
  private readonly keys: BenchKey[];
  private readonly stats: LoadStats = { submitted: 0, accepted: 0, failed: 0, skipped: 0, failures: {} };
  private readonly inFlight = new Set<Promise<void>>();
  private readonly runId = Date.now().toString(36);
  private timer: NodeJS.Timeout | null = null;
  private started = 0;
  private seq = 0;

  constructor(private readonly options: SteadyLoadOptions) {
    this.keys = benchKeys(options.keys);
  }

  start(): void {
    this.started = performance.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  snapshot(): LoadStats {
    return { ...this.stats, failures: { ...this.stats.failures } };
  }

  /** Stops submitting and waits (bounded by the SDK's own timeouts) for answers in flight. */
  async stop(): Promise<LoadStats> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.inFlight]);
    return this.snapshot();
  }

  private tick(): void {
    const due = Math.floor(((performance.now() - this.started) / 1000) * this.options.ratePerSec);
    while (this.seq < due) {
      const seq = this.seq++;
      if (this.inFlight.size >= this.options.maxInFlight) {
        this.stats.skipped++;
        continue;
      }
      const p = this.submit(seq).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  private async submit(seq: number): Promise<void> {
    const { urls, lane } = this.options;
    const first = seq % urls.length;
    const client = createClient({
      endpoints: [...urls.slice(first), ...urls.slice(0, first)],
      attempts: 12,
      timeoutMs: 2_000,
    });
    const tx = signFaucet(lane, this.keys[seq % this.keys.length]!, `${this.runId}-${seq}`);
    this.stats.submitted++;
    try {
      await client.submitSigned(lane, tx);
      this.stats.accepted++;
    } catch (error) {
      this.stats.failed++;
      const code = error instanceof BatonError ? error.code : error instanceof Error ? error.name : 'unknown';
      this.stats.failures[code] = (this.stats.failures[code] ?? 0) + 1;
    }
  }
}
