// The Baton SDK (`baton/client`). Browser-safe: no node: imports. Its types live in ./types.ts
// so that its published declarations do not reach into the server's modules.
import { BatonError, isErrorCode } from '../errors.js';
import { STREAM_CLOSE as CLOSE_CODES } from '../stream-codes.js';
import type { KeyPair } from './crypto.js';
import { delay, jitteredBackoff } from './retry.js';
import { streamBlocks, type BlockStreamOptions } from './stream.js';
import { signTx, type SignedTx, type TxIntent } from './tx.js';
import type {
  Block,
  ClusterView,
  JsonValue,
  LaneInfo,
  QueryResult,
  StateValue,
  StreamCloseCodes,
  TxStatus,
  Versions,
} from './types.js';

export { generateKeyPair, signMessage, type KeyPair } from './crypto.js';
export { signTx, type Envelope, type SignedTx, type TxIntent } from './tx.js';
export { BatonError, ERRORS, type ErrorCode } from '../errors.js';
export type { BlockStreamOptions } from './stream.js';
export type {
  Block,
  ClusterLane,
  ClusterReplica,
  ClusterView,
  JsonValue,
  LaneInfo,
  QueryResult,
  StateValue,
  StreamCloseCodes,
  StreamMessage,
  TxStatus,
  VersionSpan,
  Versions,
} from './types.js';

/** WebSocket close codes of the block stream (the server's own table, typed by the SDK). */
export const STREAM_CLOSE: StreamCloseCodes = CLOSE_CODES;

/** The reserved transaction kind of an approver's vote for an upgrade. */
export const APPROVE_KIND = 'baton.approve';

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

/** `/v1/lanes/{lane}` */
function lanePath(lane: string): string {
  return `/v1/lanes/${encodeURIComponent(lane)}`;
}

/**
 * One path segment for a state key or query name. "." and ".." cannot travel in a URL path (URL
 * parsers resolve them, even percent-encoded, and the request would reach another route), and an
 * empty segment names no key: those are refused here, before any request.
 */
function segment(value: string, what: string): string {
  if (value === '' || value === '.' || value === '..')
    throw new BatonError(
      'bad_request',
      `${what} cannot be ${JSON.stringify(value)} (not a URL path segment)`,
    );
  return encodeURIComponent(value);
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
    return this.request<TxStatus>('POST', `${lanePath(lane)}/txs`, tx.envelope, options);
  }

  /**
   * An approver's signed vote for switching `lane` to app `version` (a lane created with
   * approvers switches once a quorum of them approved the proposed version). Resolves with the
   * transaction id once the cluster has stored it; `waitForCommit` tells how it went (its
   * `result` is `{ version, approvals, quorum }`). Its nonce is fixed, so approving the same
   * version again with the same key is the same transaction: recognised, never counted twice.
   */
  async approveUpgrade(
    lane: string,
    version: string,
    key: KeyPair,
    options: CallOptions = {},
  ): Promise<string> {
    const tx = await signTx(lane, { kind: APPROVE_KIND, args: { version }, nonce: 'approve' }, key);
    await this.submitSigned(lane, tx, options);
    return tx.id;
  }

  async status(lane: string, id: string, options: CallOptions = {}): Promise<TxStatus> {
    return this.request<TxStatus>('GET', `${lanePath(lane)}/txs/${id}`, undefined, options);
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
      `${lanePath(lane)}/blocks?from=${from}&limit=${limit}`,
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

  /** An account's balance on a lane whose app has a `balance` query (the token app). */
  async balance(lane: string, account: string, options: CallOptions = {}): Promise<number> {
    const answer = await this.request<{ balance: number }>(
      'GET',
      `${lanePath(lane)}/accounts/${encodeURIComponent(account)}`,
      undefined,
      options,
    );
    return answer.balance;
  }

  /** The lane: its app, active and proposed version, height, term and leader. */
  async lane(lane: string, options: CallOptions = {}): Promise<LaneInfo> {
    return this.request<LaneInfo>('GET', lanePath(lane), undefined, options);
  }

  /**
   * One entry of the lane's state (`value` null when the key is absent), read on a replica whose
   * copy holds every block committed before the request.
   */
  async state(lane: string, key: string, options: CallOptions = {}): Promise<StateValue> {
    return this.request<StateValue>(
      'GET',
      `${lanePath(lane)}/state/${segment(key, 'a key')}`,
      undefined,
      options,
    );
  }

  /**
   * Runs the lane app's query `name` with `args` (any JSON; omitted: null) over its state at the
   * committed tip. An unknown name fails with `unknown_query`, refused args with `bad_args`.
   */
  async query<T = JsonValue>(
    lane: string,
    name: string,
    args?: unknown,
    options: CallOptions = {},
  ): Promise<QueryResult<T>> {
    let search = '';
    if (args !== undefined) {
      const json = JSON.stringify(args) as string | undefined;
      if (json === undefined) throw new TypeError('query args must be JSON-serialisable');
      search = `?args=${encodeURIComponent(json)}`;
    }
    const answer = await this.request<{ query: string; result: T; height: number }>(
      'GET',
      `${lanePath(lane)}/query/${segment(name, 'a query name')}${search}`,
      undefined,
      options,
    );
    return { result: answer.result, height: answer.height };
  }

  /** The lane's app versions: active, proposed, and which heights each version produced. */
  async versions(lane: string, options: CallOptions = {}): Promise<Versions> {
    return this.request<Versions>('GET', `${lanePath(lane)}/versions`, undefined, options);
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
