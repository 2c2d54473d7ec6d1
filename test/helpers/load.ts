import { setMaxListeners } from 'node:events';
import { createClient, signTx } from '../../src/client/index.js';
import { generateKeyPair, type KeyPair } from '../../src/ledger/keys.js';

/**
 * Submits signed faucet transactions from `concurrency` workers through the SDK (which
 * retries across endpoints with the same id) and records every acknowledged one.
 */
export class FaucetLoad {
  readonly acked = new Map<string, number>();
  readonly failures: string[] = [];
  private readonly controller = new AbortController();
  private workers: Promise<void>[] = [];
  private readonly keys: KeyPair[];

  constructor(
    private readonly endpoints: string[],
    private readonly concurrency = 8,
    private readonly lane = 'main',
    /** Attempts per submission, spread over every endpoint with back-off (about 9 s for 40). */
    private readonly attempts = 40,
  ) {
    this.keys = Array.from({ length: concurrency }, () => generateKeyPair());
    setMaxListeners(0, this.controller.signal); // every in-flight request listens to it
  }

  start(): void {
    const client = createClient({ endpoints: this.endpoints, attempts: this.attempts, timeoutMs: 3_000 });
    this.workers = this.keys.map(async (key, worker) => {
      let n = 0;
      while (!this.controller.signal.aborted) {
        const amount = 1 + ((worker + n++) % 10);
        const tx = await signTx(this.lane, { kind: 'faucet', args: { amount } }, key);
        try {
          await client.submitSigned(this.lane, tx, { signal: this.controller.signal });
          this.acked.set(tx.id, amount);
        } catch (error) {
          if (this.controller.signal.aborted) return;
          this.failures.push(error instanceof Error ? error.message : String(error));
        }
      }
    });
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.all(this.workers);
  }
}
