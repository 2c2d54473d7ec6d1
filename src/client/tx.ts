import { signMessage, type KeyPair } from '../ledger/keys.js';
import { txId } from '../ledger/envelope.js';

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

let nonceCounter = 0;

function freshNonce(): string {
  nonceCounter = (nonceCounter + 1) % 1_000_000;
  return `${Date.now().toString(36)}-${nonceCounter}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Builds and signs a transaction for `lane`. The id is the hex SHA-256 of the body. */
export function signTx(lane: string, intent: TxIntent, key: KeyPair): SignedTx {
  const body = JSON.stringify({
    lane,
    from: key.publicKey,
    kind: intent.kind,
    args: intent.args,
    nonce: intent.nonce ?? freshNonce(),
  });
  return {
    id: txId(body),
    envelope: { body, signer: key.publicKey, signature: signMessage(key.secretKey, body) },
  };
}
