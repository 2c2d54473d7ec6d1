import { setMaxListeners } from 'node:events';
import {
  BatonClient,
  BatonError,
  createClient,
  generateKeyPair,
  signTx,
  type KeyPair,
  type SignedTx,
} from '../client/index.js';
import { sleep } from '../time.js';
import { fillIntent, type AppIntent } from './app-intent.js';
import type { History, Op, OpKind } from './history.js';
import type { Random } from './random.js';

export interface WorkloadOptions {
  endpoints: readonly string[];
  lanes: readonly string[];
  /** Concurrent clients, each with its own account and SDK client (default 4). */
  clients: number;
  /** Operations per second, all clients together. */
  ratePerSec: number;
  rng: Random;
  history: History;
  /** Lanes (among `lanes`) of other apps than token, and the intent template sent there. */
  app?: { lanes: readonly string[]; intent: AppIntent };
}

interface Sent {
  lane: string;
  tx: SignedTx;
  args: Op['args'];
  intent?: string;
}

/**
 * A seeded client workload over the SDK: on token lanes, faucets and transfers between the
 * workload's own accounts (so a transaction applied twice shows in the balances); on app lanes,
 * the intent template filled with the client's counter and name. On both, repeats of envelopes
 * sent before (which must be recognised, never applied twice) and badly signed transactions
 * (which must be refused). Every operation goes into the history with its outcome.
 */
export class Workload {
  private readonly controller = new AbortController();
  private loops: Promise<void>[] = [];
  private keys: KeyPair[] = [];

  constructor(private readonly options: WorkloadOptions) {
    setMaxListeners(0, this.controller.signal);
  }

  /** The workload's accounts (hex public keys), the same on every lane. */
  get accounts(): string[] {
    return this.keys.map((k) => k.publicKey);
  }

  /** Starts every client; they run until `stop()` or until `signal` aborts. */
  async start(signal?: AbortSignal): Promise<void> {
    signal?.addEventListener('abort', () => this.controller.abort(signal.reason), { once: true });
    const { options } = this;
    this.keys = await Promise.all(Array.from({ length: options.clients }, () => generateKeyPair()));
    this.loops = this.keys.map((key, i) => this.client(i, key, options.rng.fork(`client-${i}`)));
  }

  /** Stops sending; an operation in flight ends as `unknown`. */
  async stop(): Promise<void> {
    this.controller.abort(new Error('the run is over'));
    await Promise.all(this.loops);
  }

  private async client(index: number, key: KeyPair, rng: Random): Promise<void> {
    const { options } = this;
    const signal = this.controller.signal;
    const name = `c${index + 1}`;
    // Generous retries: a database restart or a failover should end in an answer, not "unknown".
    // An SDK client sticks to the replica that last answered, so clients drift together onto one
    // replica and a fault there would stall them all; a fresh client per operation starts each at
    // a random replica, as many independent clients would.
    const sdk = (): BatonClient =>
      createClient({
        endpoints: [...options.endpoints],
        attempts: 60,
        timeoutMs: 2_500,
        backoffMs: { base: 50, cap: 1_000 },
      });
    const sent: Sent[] = [];
    const appLanes = new Set(options.app?.lanes ?? []);
    let n = 0; // this client's app intents so far
    const appIntent = (): AppIntent => fillIntent(options.app!.intent, ++n, name);
    const periodMs = (1_000 * options.clients) / options.ratePerSec;
    let next = Date.now() + rng.next() * periodMs;
    while (!signal.aborted) {
      await sleep(Math.max(0, next - Date.now()), signal);
      if (signal.aborted) break;
      next = Math.max(next + periodMs, Date.now() - periodMs); // do not burst after a long stall
      const lane = rng.pick(options.lanes);
      const onApp = appLanes.has(lane);
      const roll = rng.next();
      let kind: OpKind;
      let tx: SignedTx;
      let args: Op['args'];
      let intent: string | undefined;
      const previous = sent.filter((s) => s.lane === lane);
      if (roll < 0.06 && previous.length > 0) {
        const again = rng.pick(previous);
        kind = 'resubmit';
        ({ tx, args, intent } = again);
      } else if (roll < 0.09) {
        kind = 'forged';
        const bad = onApp ? appIntent() : { kind: 'faucet', args: { amount: rng.int(1, 100) } };
        ({ args } = bad);
        if (onApp) intent = bad.kind;
        tx = forge(await signTx(lane, bad, key));
      } else if (onApp) {
        kind = 'app';
        const filled = appIntent();
        ({ args } = filled);
        intent = filled.kind;
        tx = await signTx(lane, filled, key);
      } else if (roll < 0.5 || this.keys.length < 2) {
        kind = 'faucet';
        args = { amount: rng.int(1, 100) };
        tx = await signTx(lane, { kind, args }, key);
      } else {
        kind = 'transfer';
        const others = this.keys.filter((k) => k !== key);
        args = { to: rng.pick(others).publicKey, amount: rng.int(1, 80) };
        tx = await signTx(lane, { kind, args }, key);
      }
      const op = options.history.invoke({
        client: name,
        lane,
        id: tx.id,
        kind,
        from: key.publicKey,
        args,
        ...(intent === undefined ? {} : { intent }),
      });
      try {
        const answer = await sdk().submitSigned(lane, tx, { signal });
        options.history.complete(op, 'ok', { status: answer.status });
        if (kind !== 'resubmit' && kind !== 'forged') {
          sent.push({ lane, tx, args, intent });
          if (sent.length > 50) sent.shift();
        }
      } catch (error) {
        const definite =
          error instanceof BatonError && error.status >= 400 && error.status < 500 && error.status !== 429;
        const message = signal.aborted
          ? 'still in flight when the run ended'
          : error instanceof BatonError
            ? `${error.code}: ${error.message}`
            : error instanceof Error
              ? error.message
              : String(error);
        options.history.complete(op, definite ? 'failed' : 'unknown', { error: message });
      }
    }
  }
}

/** The same transaction with a broken signature: it must be refused. */
function forge(good: SignedTx): SignedTx {
  const sig = good.envelope.signature;
  const flipped = (sig[0] === '0' ? '1' : '0') + sig.slice(1);
  return { id: good.id, envelope: { ...good.envelope, signature: flipped } };
}
