/**
 * The public contract of submissions and of the token app, written from the README and
 * independent of src/: what a replica must accept, and what committed transactions must do.
 */

const HEX32 = /^[0-9a-fA-F]{64}$/;
const HEX64 = /^[0-9a-fA-F]{128}$/;
const LANE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function exactly(value: unknown, keys: string[]): value is Json {
  return (
    isObject(value) && Object.keys(value).length === keys.length && keys.every((k) => Object.hasOwn(value, k))
  );
}

function amountIn(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= max;
}

function argsProblem(kind: string, args: unknown): string | undefined {
  if (kind === 'faucet')
    return exactly(args, ['amount']) && amountIn(args.amount, 1000) ? undefined : 'faucet args';
  if (kind === 'transfer') {
    const ok =
      exactly(args, ['to', 'amount']) &&
      typeof args.to === 'string' &&
      HEX32.test(args.to) &&
      amountIn(args.amount, Number.MAX_SAFE_INTEGER);
    return ok ? undefined : 'transfer args';
  }
  return 'unknown kind';
}

/**
 * Why the contract refuses `wire` posted to `/v1/lanes/{urlLane}/txs` on a replica serving
 * `lanes`, or undefined when it must be accepted. `signatureOk` says whether the signature
 * was made by the signer's key over exactly the body (the test knows how it signed).
 */
export function refusalReason(
  wire: string,
  urlLane: string,
  lanes: readonly string[],
  signatureOk: boolean,
): string | undefined {
  let lane: string;
  try {
    lane = decodeURIComponent(urlLane);
  } catch {
    return 'malformed URL';
  }
  if (!lanes.includes(lane)) return 'unknown lane';
  let envelope: unknown;
  try {
    envelope = JSON.parse(wire);
  } catch {
    return 'not JSON';
  }
  if (!exactly(envelope, ['body', 'signer', 'signature'])) return 'envelope fields';
  const { body, signer, signature } = envelope;
  if (typeof body !== 'string' || typeof signer !== 'string' || typeof signature !== 'string')
    return 'envelope types';
  if (!HEX32.test(signer) || !HEX64.test(signature)) return 'envelope hex';
  if (Buffer.byteLength(body, 'utf8') > 4096) return 'body too large';
  if (body.includes('\u0000')) return 'NUL in body';
  let tx: unknown;
  try {
    tx = JSON.parse(body);
  } catch {
    return 'body not JSON';
  }
  if (!exactly(tx, ['lane', 'from', 'kind', 'args', 'nonce'])) return 'body fields';
  if (typeof tx.lane !== 'string' || !LANE_NAME.test(tx.lane)) return 'body lane';
  if (typeof tx.from !== 'string' || !HEX32.test(tx.from)) return 'body from';
  if (typeof tx.kind !== 'string' || tx.kind.length < 1 || tx.kind.length > 64) return 'body kind';
  const nonce = tx.nonce;
  const nonceOk =
    (typeof nonce === 'number' && Number.isSafeInteger(nonce) && nonce >= 0) ||
    (typeof nonce === 'string' && nonce.length >= 1 && nonce.length <= 64);
  if (!nonceOk) return 'nonce';
  if (tx.lane !== lane) return 'wrong lane';
  if (tx.from.toLowerCase() !== signer.toLowerCase()) return 'from is not the signer';
  const problem = argsProblem(tx.kind, tx.args);
  if (problem) return problem;
  return signatureOk ? undefined : 'signature';
}

export interface CommittedTx {
  lane: string;
  body: string;
  ok: boolean;
  error: string | null;
}

export interface Replay {
  /** Expected state rows, `${lane}/${key}` → value. */
  state: Map<string, number>;
  /** Per lane, the sum of committed faucet amounts. */
  faucets: Map<string, number>;
  /** Transactions whose recorded outcome is not what the app must have answered. */
  wrongOutcomes: string[];
}

/** Replays committed transactions (in block order) through the token app's rules. */
export function replayToken(txs: readonly CommittedTx[]): Replay {
  const state = new Map<string, number>();
  const faucets = new Map<string, number>();
  const wrongOutcomes: string[] = [];
  const get = (lane: string, key: string) => state.get(`${lane}/${key}`) ?? 0;
  const set = (lane: string, key: string, value: number) => state.set(`${lane}/${key}`, value);
  for (const t of txs) {
    const tx = JSON.parse(t.body) as { from: string; kind: string; args: { to?: string; amount: number } };
    const from = `balance:${tx.from.toLowerCase()}`;
    let expected: { ok: boolean; error: string | null } = { ok: true, error: null };
    if (tx.kind === 'faucet') {
      set(t.lane, from, get(t.lane, from) + tx.args.amount);
      set(t.lane, 'supply', get(t.lane, 'supply') + tx.args.amount);
      faucets.set(t.lane, (faucets.get(t.lane) ?? 0) + tx.args.amount);
    } else {
      const to = `balance:${String(tx.args.to).toLowerCase()}`;
      if (get(t.lane, from) < tx.args.amount) expected = { ok: false, error: 'insufficient_funds' };
      else if (to !== from) {
        const available = get(t.lane, from);
        set(t.lane, from, available - tx.args.amount);
        set(t.lane, to, get(t.lane, to) + tx.args.amount);
      }
    }
    if (t.ok !== expected.ok || t.error !== expected.error)
      wrongOutcomes.push(`${t.body}: got ${JSON.stringify(t)}, expected ${JSON.stringify(expected)}`);
  }
  return { state, faucets, wrongOutcomes };
}
