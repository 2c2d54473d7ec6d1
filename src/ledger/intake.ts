import { BatonError } from '../errors.js';
import type { Logger } from '../log.js';
import { isConnectionError } from '../db/pool.js';
import type { VerifiedTx } from './envelope.js';
import type { LedgerStore } from './store.js';

export interface IntakeLimits {
  /** Most transactions stored by one INSERT. */
  maxBatch: number;
  /** Most transactions waiting to be stored; past this, submissions are refused as overloaded. */
  maxQueue: number;
}

export const DEFAULT_INTAKE_LIMITS: IntakeLimits = { maxBatch: 1000, maxQueue: 20_000 };

interface Waiting {
  tx: VerifiedTx;
  resolve: (inserted: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for submissions: concurrent submissions are stored together by one INSERT
 * (one fsync), and each caller learns whether its transaction was new. A caller is answered
 * only after the row is durable.
 */
export class Intake {
  private queue: Waiting[] = [];
  private flushing = false;

  constructor(
    private readonly store: LedgerStore,
    private readonly logger: Logger,
    private readonly limits: IntakeLimits = DEFAULT_INTAKE_LIMITS,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  /** Resolves true when stored now, false when the transaction was already known. */
  submit(tx: VerifiedTx): Promise<boolean> {
    if (this.queue.length >= this.limits.maxQueue) return Promise.reject(new BatonError('overloaded'));
    return new Promise((resolve, reject) => {
      this.queue.push({ tx, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.limits.maxBatch);
      const unique = new Map<string, VerifiedTx>();
      for (const w of batch) if (!unique.has(w.tx.id)) unique.set(w.tx.id, w.tx);
      try {
        const inserted = await this.store.intake([...unique.values()]);
        for (const w of batch) {
          // Only the first waiter of a duplicated id in the batch counts as the one that stored it.
          const isNew = inserted.delete(w.tx.id);
          w.resolve(isNew);
        }
      } catch (error) {
        const refusal = isConnectionError(error) ? new BatonError('unavailable') : new BatonError('internal');
        if (refusal.code === 'internal') this.logger.error('intake failed', { error });
        for (const w of batch) w.reject(refusal);
      }
    }
    this.flushing = false;
  }
}
