import { BatonError, isErrorCode } from '../errors.js';
import type { Block } from '../ledger/block.js';
import type { TxStatus } from '../ledger/store.js';
import type { ClusterView } from '../api/context.js';
import { backoffMs, sleep } from '../time.js';
import { signTx, type SignedTx, type TxIntent } from './tx.js';
import type { KeyPair } from '../ledger/keys.js';

export { generateKeyPair, type KeyPair } from '../ledger/keys.js';
export { signTx, type Envelope, type SignedTx, type TxIntent } from './tx.js';
export { BatonError, type ErrorCode } from '../errors.js';
export type { Block, TxStatus, ClusterView };

export interface ClientOptions {
  /** Replica base URLs; requests go to one and move on when it fails. */
  endpoints: string[];
  /** Attempts per call across endpoints before giving up (default 8). */
  attempts?: number;
  /** Per-request timeout in milliseconds (default 5000). */
  timeoutMs?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface SubmitResult {
  id: string;
  status: 'pending' | 'committed';
  height?: number;
  index?: number;
  ok?: boolean;
  error?: string;
}

/** Answers that mean "try another replica": the replica is unavailable, not that the request is wrong. */
function retriable(status: number): boolean {
  return status === 502 || status === 503 || status === 504 || status === 429;
}

/**
 * A client for a Baton cluster. Every call may move between endpoints; submissions always
 * carry the same transaction id, so a retry is recognised by the cluster and never applied twice.
 */
export class BatonClient {
  private next = 0;
  private readonly endpoints: string[];
  private readonly attempts: number;
  private readonly timeoutMs: number;

  constructor(options: ClientOptions) {
    if (options.endpoints.length === 0) throw new Error('at least one endpoint is required');
    this.endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.attempts = options.attempts ?? 8;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** Signs and submits `intent`; resolves with the cluster's answer (pending, or committed if known). */
  async submit(
    lane: string,
    intent: TxIntent,
    key: KeyPair,
    options: CallOptions = {},
  ): Promise<SubmitResult> {
    return this.submitSigned(lane, signTx(lane, intent, key), options);
  }

  async submitSigned(lane: string, tx: SignedTx, options: CallOptions = {}): Promise<SubmitResult> {
    return this.request<SubmitResult>(
      'POST',
      `/v1/lanes/${encodeURIComponent(lane)}/txs`,
      tx.envelope,
      options,
    );
  }

  async status(lane: string, id: string, options: CallOptions = {}): Promise<TxStatus> {
    return this.request<TxStatus>(
      'GET',
      `/v1/lanes/${encodeURIComponent(lane)}/txs/${id}`,
      undefined,
      options,
    );
  }

  /** Polls until the transaction is committed; rejects when `signal` aborts. */
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
      await sleep(options.intervalMs ?? 25, options.signal);
    }
  }

  async blocks(lane: string, from: number, limit = 100, options: CallOptions = {}): Promise<Block[]> {
    const page = await this.request<{ blocks: Block[] }>(
      'GET',
      `/v1/lanes/${encodeURIComponent(lane)}/blocks?from=${from}&limit=${limit}`,
      undefined,
      options,
    );
    return page.blocks;
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
        lastError = error;
      }
      this.next++;
      await sleep(attempt < this.endpoints.length ? 0 : backoffMs(attempt, 20, 500), options.signal);
    }
    throw lastError instanceof Error ? lastError : new BatonError('unavailable');
  }
}

export function createClient(options: ClientOptions): BatonClient {
  return new BatonClient(options);
}
