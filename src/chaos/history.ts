import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * What the workload asked for: `faucet` and `transfer` on token lanes, `app` (the `--app-tx`
 * intent) on lanes of other apps; `resubmit` repeats an earlier envelope; `forged` is badly signed.
 */
export type OpKind = 'faucet' | 'transfer' | 'app' | 'resubmit' | 'forged';

/**
 * - ok: the cluster answered 2xx (the transaction is acknowledged: durable, eventually in one block);
 * - failed: the cluster refused it with a definite error (it must never commit);
 * - unknown: no definite answer (timeouts, network errors, retries exhausted): it may or may not commit.
 */
export type Outcome = 'ok' | 'failed' | 'unknown';

export interface Op {
  /** Position in the history, in invocation order. */
  seq: number;
  client: string;
  lane: string;
  /** The transaction id (hex SHA-256 of the body). */
  id: string;
  kind: OpKind;
  /** The signer's account (hex public key). */
  from: string;
  /** A token operation's amount and recipient, or an app intent's args. */
  args: { amount: number; to?: string } | Record<string, unknown>;
  /** On an app lane: the kind of the app intent (sent, repeated or forged). */
  intent?: string;
  /** Milliseconds since the run began. */
  invokedAt: number;
  completedAt: number;
  outcome: Outcome;
  /** For ok: the status the cluster answered (pending, or committed when already known). */
  status?: string;
  error?: string;
}

/** A block as one stream subscriber received it. */
export interface SeenBlock {
  height: number;
  hash: string;
  /** Milliseconds since the run began. */
  at: number;
}

export interface StreamRecord {
  subscriber: string;
  lane: string;
  /** The cursor it started from: it must receive every block above, exactly once, in order. */
  after: number;
  startedAt: number;
  blocks: SeenBlock[];
  error?: string;
}

/**
 * The run's history: every client operation with its invocation, outcome and times, in
 * invocation order; optionally mirrored to a JSON-lines file as operations complete.
 */
export class History {
  readonly ops: Op[] = [];
  private log: WriteStream | null;

  constructor(
    readonly startedAt: number,
    file?: string,
  ) {
    this.log = file ? createWriteStream(file) : null;
  }

  /** Milliseconds since the run began. */
  now(): number {
    return Date.now() - this.startedAt;
  }

  invoke(op: Omit<Op, 'seq' | 'invokedAt' | 'completedAt' | 'outcome'>): Op {
    const recorded: Op = {
      ...op,
      seq: this.ops.length,
      invokedAt: this.now(),
      completedAt: -1,
      outcome: 'unknown',
    };
    this.ops.push(recorded);
    return recorded;
  }

  complete(op: Op, outcome: Outcome, detail: { status?: string; error?: string } = {}): void {
    op.completedAt = this.now();
    op.outcome = outcome;
    if (detail.status !== undefined) op.status = detail.status;
    if (detail.error !== undefined) op.error = detail.error;
    this.log?.write(JSON.stringify(op) + '\n');
  }

  counts(): Record<Outcome, number> & { pending: number } {
    const out = { ok: 0, failed: 0, unknown: 0, pending: 0 };
    for (const op of this.ops) {
      if (op.completedAt < 0) out.pending++;
      else out[op.outcome]++;
    }
    return out;
  }

  async close(): Promise<void> {
    const log = this.log;
    this.log = null;
    if (log) await new Promise<void>((resolve) => log.end(resolve));
  }
}
