import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { signTx, type Envelope, type KeyPair, type SignedTx } from '../src/client/index.js';
import { SignatureVerifier, publicKeyObject, type VerifierBackend } from '../src/ledger/keys.js';
import { NAMES_APP, registerIntent } from './app-modules.js';

const SPKI_PREFIX_LENGTH = 12;
const PKCS8_PREFIX_LENGTH = 16;

/** A key pair with its private KeyObject kept, so signing does not re-import the key each time. */
export interface BenchKey extends KeyPair {
  privateKey: KeyObject;
}

export function benchKeys(count: number): BenchKey[] {
  return Array.from({ length: count }, () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    return {
      publicKey: publicKey
        .export({ format: 'der', type: 'spki' })
        .subarray(SPKI_PREFIX_LENGTH)
        .toString('hex'),
      secretKey: privateKey
        .export({ format: 'der', type: 'pkcs8' })
        .subarray(PKCS8_PREFIX_LENGTH)
        .toString('hex'),
      privateKey,
    };
  });
}

/** What a transaction asks its lane's app to do (the SDK's TxIntent without the nonce). */
export interface Intent {
  kind: string;
  args: unknown;
}

/** The token app's `faucet {amount}`. */
export const faucetIntent = (amount = 1): Intent => ({ kind: 'faucet', args: { amount } });

/**
 * A signed transaction of any app's kind, byte for byte what the SDK's signTx builds (checked by
 * `assertSameAsSdk`), synchronous and with the private KeyObject kept, so that pre-signing tens of
 * thousands of transactions stays cheap whatever the SDK's signing path costs.
 */
export function signIntent(lane: string, key: BenchKey, intent: Intent, nonce: string | number): SignedTx {
  const body = JSON.stringify({ lane, from: key.publicKey, kind: intent.kind, args: intent.args, nonce });
  const bytes = Buffer.from(body, 'utf8');
  const envelope: Envelope = {
    body,
    signer: key.publicKey,
    signature: sign(null, bytes, key.privateKey).toString('hex'),
  };
  return { id: createHash('sha256').update(bytes).digest('hex'), envelope };
}

/** A signed `faucet {amount}` transaction (`signIntent`). */
export function signFaucet(lane: string, key: BenchKey, nonce: string | number, amount = 1): SignedTx {
  return signIntent(lane, key, faucetIntent(amount), nonce);
}

/**
 * Fails when the bench's signer and the SDK disagree on a transaction's bytes, id or signature,
 * for the token's `faucet` and the names app's `register` (examples/name-registry).
 */
export async function assertSameAsSdk(): Promise<void> {
  const [key] = benchKeys(1);
  const cases: Array<[string, Intent]> = [
    ['main', faucetIntent(7)],
    [NAMES_APP, registerIntent('same-as-sdk')],
  ];
  for (const [lane, intent] of cases) {
    const ours = signIntent(lane, key!, intent, 'same-as-sdk');
    // `await` accepts both a synchronous and a Promise-returning signTx.
    const sdk = await signTx(lane, { ...intent, nonce: 'same-as-sdk' }, key!);
    if (!isDeepStrictEqual(ours, sdk)) {
      throw new Error(`the bench signer disagrees with the SDK: ${JSON.stringify({ ours, sdk })}`);
    }
  }
}

/** Microseconds per call of `fn`, over `n` calls (for the report's notes on signing costs). */
export function microsPerCall(n: number, fn: (i: number) => unknown): number {
  const started = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return ((performance.now() - started) * 1000) / n;
}

/** Microseconds per awaited call of `fn`, one call at a time. */
export async function microsPerAwaitedCall(n: number, fn: (i: number) => unknown): Promise<number> {
  await fn(-1); // warm-up (key import, JIT)
  const started = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return ((performance.now() - started) * 1000) / n;
}

/** Per-call costs of the cryptography on the submission path, measured on an idle machine. */
export interface CryptoCosts {
  sdkSignTxUs: number;
  cachedKeySignUs: number;
  /** What the replicas use (libsodium when its binding loads). */
  verifyBackend: VerifierBackend;
  serverVerifyUs: number;
  /** node:crypto (OpenSSL), the fallback, for comparison. */
  opensslVerifyUs: number;
  /** OpenSSL's first sight of a signer: importing its public key (a cache miss; libsodium needs none). */
  opensslNewSignerUs: number;
}

export async function cryptoCosts(): Promise<CryptoCosts> {
  const [key] = benchKeys(1);
  const signers = benchKeys(300).map((k) => signFaucet('main', k, 'new-signer').envelope);
  const tx = signFaucet('main', key!, 'verify');
  const verifyUs = (verifier: SignatureVerifier) => {
    verifier.verify(tx.envelope.signer, tx.envelope.body, tx.envelope.signature);
    return microsPerCall(1000, () =>
      verifier.verify(tx.envelope.signer, tx.envelope.body, tx.envelope.signature),
    );
  };
  const server = new SignatureVerifier();
  return {
    sdkSignTxUs: await microsPerAwaitedCall(300, (i) =>
      signTx('main', { kind: 'faucet', args: { amount: 1 }, nonce: i }, key!),
    ),
    cachedKeySignUs: microsPerCall(1000, (i) => signFaucet('main', key!, i)),
    verifyBackend: server.backend,
    serverVerifyUs: verifyUs(server),
    opensslVerifyUs: verifyUs(new SignatureVerifier({ backend: 'openssl' })),
    opensslNewSignerUs: microsPerCall(signers.length, (i) => publicKeyObject(signers[i]!.signer)),
  };
}
