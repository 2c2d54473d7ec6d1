import { BatonError, createClient, type SignedTx } from '../src/client/index.js';
import { KeepAliveConnection } from './http-client.js';
import { benchKeys, faucetIntent, signIntent, type BenchKey, type Intent } from './keys.js';

export interface SteadyLoadOptions {
  urls: string[];
  lane: string;
  ratePerSec: number;
  /** Submissions waiting for an answer at most; beyond it a tick's submissions are skipped (counted). */
  maxInFlight: number;
  keys: number;
  /** What the seq-th transaction asks; defaults to the token's `faucet {amount: 1}`. */
  intent?: (seq: number) => Intent;
  /** How one transaction is sent; defaults to the SDK over `urls` (with its retries). */
  send?: Sender;
}

/** Sends one signed transaction; throws on failure (a SendFailure names its kind). */
export type Sender = (tx: SignedTx, seq: number) => Promise<void>;

export class SendFailure extends Error {
  constructor(readonly kind: string) {
    super(kind);
  }
}

/**
 * Each transaction sent exactly once to `url` (e.g. HAProxy) with plain `fetch`, no retries of
 * its own: any non-2xx answer or failed request is a failure.
 */
export function plainSender(url: string, lane: string): Sender {
  return async (tx) => {
    const res = await fetch(`${url}/v1/lanes/${encodeURIComponent(lane)}/txs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(tx.envelope),
      signal: AbortSignal.timeout(20_000),
    });
    await res.arrayBuffer();
    if (res.status < 200 || res.status >= 300) throw new SendFailure(`HTTP ${res.status}`);
  };
}

/**
 * Each transaction sent once, to the replicas of `urls` in turn, over keep-alive connections that
 * read only the status line: where the load only drives the system (no replica stops), this
 * leaves more of a 2-core machine to the system under test than the SDK's `fetch` does.
 */
export function lightSender(urls: readonly string[], lane: string): { send: Sender; close: () => void } {
  const idle = urls.map(() => [] as KeepAliveConnection[]);
  const path = `/v1/lanes/${encodeURIComponent(lane)}/txs`;
  const close = () => {
    for (const connections of idle) for (const c of connections.splice(0)) c.close();
  };
  const send: Sender = async (tx, seq) => {
    const i = seq % urls.length;
    const target = new URL(urls[i]!);
    const connection = idle[i]!.pop() ?? new KeepAliveConnection(target.hostname, Number(target.port));
    let status: number;
    try {
      status = await connection.post(path, JSON.stringify(tx.envelope));
    } catch (error) {
      connection.close();
      throw new SendFailure(error instanceof Error ? error.message : 'request failed');
    }
    idle[i]!.push(connection);
    if (status < 200 || status >= 300) throw new SendFailure(`HTTP ${status}`);
  };
  return { send, close };
}

export interface LoadStats {
  submitted: number;
  accepted: number;
  failed: number;
  skipped: number;
  failures: Record<string, number>;
}

const TICK_MS = 10;

const FAUCET = faucetIntent();

/**
 * A light, steady stream of signed transactions (faucet unless `intent` says otherwise) through
 * the SDK. Each submission starts at the next replica in turn (so all replicas take intake) and
 * moves on when one fails; retries reuse the transaction id, so they are never applied twice.
 */
export class SteadyLoad {
  private readonly keys: BenchKey[];
  private readonly stats: LoadStats = { submitted: 0, accepted: 0, failed: 0, skipped: 0, failures: {} };
  private readonly inFlight = new Set<Promise<void>>();
  private readonly runId = Date.now().toString(36);
  private timer: NodeJS.Timeout | null = null;
  private started = 0;
  private seq = 0;
  private lane: string;

  constructor(private readonly options: SteadyLoadOptions) {
    this.keys = benchKeys(options.keys);
    this.lane = options.lane;
  }

  /**
   * Sends the transactions from now on to `lane` (with the default SDK sender; a `send` of the
   * options keeps its own target), so one steady stream can move from lane to lane.
   */
  moveTo(lane: string): void {
    this.lane = lane;
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
    const { intent, send } = this.options;
    // The lane at submission: retries of a transaction stay on its lane after `moveTo`.
    const lane = this.lane;
    const tx = signIntent(
      lane,
      this.keys[seq % this.keys.length]!,
      intent?.(seq) ?? FAUCET,
      `${this.runId}-${seq}`,
    );
    this.stats.submitted++;
    try {
      await (send ? send(tx, seq) : this.sendWithSdk(tx, seq, lane));
      this.stats.accepted++;
    } catch (error) {
      this.stats.failed++;
      const kind =
        error instanceof SendFailure
          ? error.kind
          : error instanceof BatonError
            ? error.code
            : error instanceof Error
              ? error.name
              : 'unknown';
      this.stats.failures[kind] = (this.stats.failures[kind] ?? 0) + 1;
    }
  }

  /** Starts at the next replica in turn (so all take intake); the SDK moves on when one fails. */
  private async sendWithSdk(tx: SignedTx, seq: number, lane: string): Promise<void> {
    const { urls } = this.options;
    const first = seq % urls.length;
    const client = createClient({
      endpoints: [...urls.slice(first), ...urls.slice(0, first)],
      attempts: 12,
      timeoutMs: 2_000,
    });
    await client.submitSigned(lane, tx);
  }
}
