import { BatonError } from '../errors.js';
import type { Logger } from '../log.js';
import { isConnectionError } from '../db/pool.js';
import type { VerifiedTx } from './envelope.js';
import type { LedgerStore } from './store.js';
import { Coalescer } from '../coalescer.js';

export interface IntakeLimits {
  /** Most transactions stored by one INSERT. */
  maxBatch: number;
  /** Most transactions waiting to be stored; past this, submissions are refused as overloaded. */
  maxQueue: number;
}

export const DEFAULT_INTAKE_LIMITS: IntakeLimits = { maxBatch: 1000, maxQueue: 20_000 };

/**
 * Group commit for submissions: concurrent submissions are stored together by one INSERT
 * (one fsync), and each caller learns whether its transaction was new. A caller is answered
 * only after the row is durable.
 */
export class Intake {
  private readonly batches: Coalescer<VerifiedTx, boolean>;

  constructor(
    private readonly store: LedgerStore,
    private readonly logger: Logger,
    private readonly limits: IntakeLimits = DEFAULT_INTAKE_LIMITS,
  ) {
    this.batches = new Coalescer((txs) => this.storeBatch(txs), limits.maxBatch);
  }

  get queued(): number {
    return this.batches.queued;
  }

  /** Resolves true when stored now, false when the transaction was already known. */
  submit(tx: VerifiedTx): Promise<boolean> {
    if (this.batches.queued >= this.limits.maxQueue) return Promise.reject(new BatonError('overloaded'));
    return this.batches.get(tx);
  }

  private async storeBatch(txs: VerifiedTx[]): Promise<boolean[]> {
    const unique = new Map<string, VerifiedTx>();
    for (const tx of txs) if (!unique.has(tx.id)) unique.set(tx.id, tx);
    let inserted: Set<string>;
    try {
      inserted = await this.store.intake([...unique.values()]);
    } catch (error) {
      const refusal = isConnectionError(error) ? new BatonError('unavailable') : new BatonError('internal');
      if (refusal.code === 'internal') this.logger.error('intake failed', { error });
      throw refusal;
    }
    // Only the first submission of an id repeated in the batch counts as the one that stored it.
    return txs.map((tx) => inserted.delete(tx.id));
  }
}
