/**
 * A load-generator thread for the throughput and app-throughput sections: pre-signs its share of
 * transactions (before the measured window), then keeps `concurrency` HTTP/1.1 keep-alive POSTs
 * in flight, spread evenly over the replicas, until told to stop. Talks to the main thread by
 * messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { registerIntent } from './app-modules.js';
import { KeepAliveConnection } from './http-client.js';
import { benchKeys, faucetIntent, signIntent, type Intent } from './keys.js';

/**
 * What the transactions ask: `faucet`, the token app's `faucet {amount: 1}`; `register`, the
 * names app's `register {name}` (examples/name-registry), the i-th transaction of thread t
 * registering `w<t>-<i>` (t and i in base 36: unique per thread and sequence, so none is
 * refused as `taken`, and at most 32 characters).
 */
export type LoadKind = 'faucet' | 'register';

export interface LoadWorkerData {
  index: number;
  urls: string[];
  lane: string;
  /** Transactions to pre-sign; the worker stops submitting when they run out. */
  count: number;
  concurrency: number;
  keys: number;
  /** Every n-th transaction's id and send time is kept for submit-to-commit latency. */
  sampleEvery: number;
  runId: string;
  kind: LoadKind;
}

export interface LoadCounters {
  sent: number;
  accepted: number;
  errors: number;
  errorKinds: Record<string, number>;
}

export type ToWorker = { type: 'go' } | { type: 'mark'; id: number } | { type: 'stop' };
export type FromWorker =
  | { type: 'ready'; signed: number; signMs: number }
  | { type: 'mark'; id: number; counters: LoadCounters }
  | {
      type: 'final';
      counters: LoadCounters;
      samples: Array<[string, number]>;
      acceptMs: number[];
      exhaustedAt: number | null;
    };

const data = workerData as LoadWorkerData;
const port = parentPort!;

const signStarted = performance.now();
const keys = benchKeys(data.keys);
const ids: string[] = new Array<string>(data.count);
const payloads: string[] = new Array<string>(data.count);
const faucet = faucetIntent();
const intent = (i: number): Intent =>
  data.kind === 'faucet' ? faucet : registerIntent(`w${data.index.toString(36)}-${i.toString(36)}`);
for (let i = 0; i < data.count; i++) {
  const tx = signIntent(data.lane, keys[i % keys.length]!, intent(i), `${data.runId}-${data.index}-${i}`);
  ids[i] = tx.id;
  payloads[i] = JSON.stringify(tx.envelope);
}
port.postMessage({
  type: 'ready',
  signed: data.count,
  signMs: performance.now() - signStarted,
} satisfies FromWorker);

const counters: LoadCounters = { sent: 0, accepted: 0, errors: 0, errorKinds: {} };
const samples: Array<[string, number]> = [];
const acceptMs: number[] = [];
let measuring = false;
let stopping = false;
let next = 0;
let exhaustedAt: number | null = null;

const path = `/v1/lanes/${encodeURIComponent(data.lane)}/txs`;
const targets = data.urls.map((u) => new URL(u));
const connections: KeepAliveConnection[] = [];

function countError(kind: string): void {
  counters.errors++;
  counters.errorKinds[kind] = (counters.errorKinds[kind] ?? 0) + 1;
}

/** One request at a time on its own keep-alive connection to one replica (replicas taken in turn). */
async function virtualUser(k: number): Promise<void> {
  const target = targets[k % targets.length]!;
  const connection = new KeepAliveConnection(target.hostname, Number(target.port));
  connections.push(connection);
  while (!stopping) {
    const i = next++;
    if (i >= data.count) {
      exhaustedAt ??= Date.now();
      return;
    }
    if (i % data.sampleEvery === 0) samples.push([ids[i]!, Date.now()]);
    const started = performance.now();
    counters.sent++;
    try {
      const status = await connection.post(path, payloads[i]!);
      if (status >= 200 && status < 300) {
        counters.accepted++;
        if (measuring) acceptMs.push(performance.now() - started);
      } else countError(`HTTP ${status}`);
    } catch (error) {
      countError((error as NodeJS.ErrnoException).code ?? (error as Error).message);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

let users: Promise<void>[] = [];
port.on('message', (msg: ToWorker) => {
  if (msg.type === 'go') {
    users = Array.from({ length: data.concurrency }, (_, k) => virtualUser(k + data.index));
  } else if (msg.type === 'mark') {
    measuring = msg.id === 0;
    port.postMessage({ type: 'mark', id: msg.id, counters: { ...counters } } satisfies FromWorker);
  } else {
    stopping = true;
    void Promise.all(users).then(() => {
      for (const c of connections) c.close();
      port.postMessage({
        type: 'final',
        counters: { ...counters, errorKinds: { ...counters.errorKinds } },
        samples,
        acceptMs,
        exhaustedAt,
      } satisfies FromWorker);
    });
  }
});
