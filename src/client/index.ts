// The Baton SDK (`baton/client`). Browser-safe: no node: imports.
import { BatonError, isErrorCode } from '../errors.js';
import type { ClusterView } from '../api/context.js';
import type { Block } from '../ledger/block.js';
import type { TxStatus } from '../ledger/store.js';
import type { KeyPair } from './crypto.js';
import { delay, jitteredBackoff } from './retry.js';
import { streamBlocks, type BlockStreamOptions } from './stream.js';
import { signTx, type SignedTx, type TxIntent } from './tx.js';

export { generateKeyPair, signMessage, type KeyPair } from './crypto.js';
export { signTx, type Envelope, type SignedTx, type TxIntent } from './tx.js';
export { BatonError, ERRORS, type ErrorCode } from '../errors.js';
export { STREAM_CLOSE, type StreamMessage } from '../stream-codes.js';
export type { BlockStreamOptions } from './stream.js';
export type { Block, ClusterView };

export type { TxStatus } from '../ledger/store.js';

export interface ClientOptions {
  /** Replica base URLs (or one load balancer); calls move to the next one when one fails. */
  endpoints: string[];
  /** Attempts per call across endpoints before giving up (default 10). */
  attempts?: number;
  /** Per-request timeout in milliseconds (default 5000). */
  timeoutMs?: number;
  /** Back-off between rounds over the endpoints: base and cap in milliseconds (default 50, 2000). */
  backoffMs?: { base: number; cap: number };
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** Statuses that mean "this replica cannot serve now", so the same request goes to another one. */
function retriable(status: number): boolean {
  return status === 502 || status === 503 || status === 504 || status === 429;
}

/**
 * A client for a Baton cluster. Every call may move between endpoints; a submission always
 * carries the same transaction id, so a retry is recognised by the cluster, never applied twice.
 */
export class BatonClient {
  private next: number;
  private readonly endpoints: string[];
  private readonly attempts: number;
  private readonly timeoutMs: number;
  private readonly backoff: { base: number; cap: number };

  constructor(options: ClientOptions) {
    if (options.endpoints.length === 0) throw new Error('at least one endpoint is required');
    this.endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.next = Math.floor(Math.random() * this.endpoints.length);
    this.attempts = options.attempts ?? 10;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.backoff = options.backoffMs ?? { base: 50, cap: 2_000 };
  }

  /** Signs and submits `intent`; resolves with the cluster's answer (pending, or its status if already known). */
  async submit(lane: string, intent: TxIntent, key: KeyPair, options: CallOptions = {}): Promise<TxStatus> {
    return this.submitSigned(lane, await signTx(lane, intent, key), options);
  }

  /** Submits an already signed transaction; safe to repeat. */
  async submitSigned(lane: string, tx: SignedTx, options: CallOptions = {}): Promise<TxStatus> {
    return this.request<TxStatus>('POST', `/v1/lanes/${encodeURIComponent(lane)}/txs`, tx.envelope, options);
  }

  async status(lane: string, id: string, options: CallOptions = {}): Promise<TxStatus> {
    return this.request<TxStatus>(
      'GET',
      `/v1/lanes/${encodeURIComponent(lane)}/txs/${id}`,
      undefined,
      options,
    );
  }

  /** Resolves once the transaction is committed (polling); rejects when `signal` aborts. */
  async waitForCommit(
    lane: string,
    id: string,
    options: CallOptions & { intervalMs?: number } = {},
  ): Promise<TxStatus> {
    for (;;) {
      options.signal?.throwIfAborted();
      const status = await this.status(lane, id, options).catch((error: unknown) => {
        if (error instanceof BatonError && error.code === 'not_found') return null;
        throw error;
      });
      if (status?.status === 'committed') return status;
      await delay(options.intervalMs ?? 25, options.signal);
    }
  }

  /** One page of blocks starting at height `from`. */
  async blocksPage(lane: string, from: number, limit = 100, options: CallOptions = {}): Promise<Block[]> {
    const page = await this.request<{ blocks: Block[] }>(
      'GET',
      `/v1/lanes/${encodeURIComponent(lane)}/blocks?from=${from}&limit=${limit}`,
      undefined,
      options,
    );
    return page.blocks;
  }

  /**
   * Every block above `after`, in order and exactly once, then live, for as long as you iterate
   * (stop with `break` or the signal). Survives the loss of the replica it reads from.
   */
  blocks(lane: string, options: BlockStreamOptions = {}): AsyncGenerator<Block, void, undefined> {
    return streamBlocks(this.endpoints, lane, options);
  }

  async balance(lane: string, account: string, options: CallOptions = {}): Promise<number> {
    const answer = await this.request<{ balance: number }>(
      'GET',
      `/v1/lanes/${encodeURIComponent(lane)}/accounts/${account}`,
      undefined,
      options,
    );
    return answer.balance;
  }

  async cluster(options: CallOptions = {}): Promise<ClusterView> {
    return this.request<ClusterView>('GET', '/v1/cluster', undefined, options);
  }

  private async request<T>(method: string, path: string, body: unknown, options: CallOptions): Promise<T> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      options.signal?.throwIfAborted();
      const endpoint = this.endpoints[this.next % this.endpoints.length]!;
      const signals = [AbortSignal.timeout(this.timeoutMs), ...(options.signal ? [options.signal] : [])];
      try {
        const res = await fetch(endpoint + path, {
          method,
          signal: AbortSignal.any(signals),
          ...(body === undefined
            ? {}
            : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
        });
        const payload = (await res.json().catch(() => null)) as {
          error?: { code?: unknown; message?: string };
        } | null;
        if (res.ok) return payload as T;
        const code = payload?.error?.code;
        const error = new BatonError(
          isErrorCode(code) ? code : 'internal',
          payload?.error?.message ?? `HTTP ${res.status}`,
        );
        if (!retriable(res.status)) throw error;
        lastError = error;
      } catch (error) {
        if (error instanceof BatonError && !retriable(error.status)) throw error;
        if (options.signal?.aborted) throw error;
        lastError = error; // network error or timeout: the request may or may not have arrived; the retry is safe
      }
      this.next++;
      // Try every endpoint once at once, then back off with jitter between rounds.
      if ((attempt + 1) % this.endpoints.length === 0) {
        await delay(
          jitteredBackoff(attempt / this.endpoints.length, this.backoff.base, this.backoff.cap),
          options.signal,
        );
      }
    }
    throw lastError instanceof Error ? lastError : new BatonError('unavailable');
  }
}

export function createClient(options: ClientOptions): BatonClient {
  return new BatonClient(options);
}
