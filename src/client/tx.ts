import { sha256Hex, signMessage, type KeyPair } from './crypto.js';

export interface Envelope {
  body: string;
  signer: string;
  signature: string;
}

export interface SignedTx {
  id: string;
  envelope: Envelope;
}

export interface TxIntent {
  kind: string;
  args: unknown;
  /** Defaults to a fresh random nonce; pass one to make the transaction id reproducible. */
  nonce?: string | number;
}

function freshNonce(): string {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Builds and signs a transaction for `lane`. Its id is the hex SHA-256 of the body's UTF-8 bytes. */
export async function signTx(lane: string, intent: TxIntent, key: KeyPair): Promise<SignedTx> {
  const body = JSON.stringify({
    lane,
    from: key.publicKey,
    kind: intent.kind,
    args: intent.args,
    nonce: intent.nonce ?? freshNonce(),
  });
  const [id, signature] = await Promise.all([sha256Hex(body), signMessage(key.secretKey, body)]);
  return { id, envelope: { body, signer: key.publicKey, signature } };
}
