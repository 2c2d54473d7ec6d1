import { BatonError } from '../errors.js';
import { sha256Hex } from './canonical.js';
import { HEX32, HEX64, type SignatureVerifier } from './keys.js';

/** Largest accepted transaction body, in UTF-8 bytes. */
export const MAX_BODY_BYTES = 4096;
export const MAX_NONCE_LENGTH = 64;
export const LANE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export interface TxBody {
  lane: string;
  from: string;
  kind: string;
  args: unknown;
  nonce: string | number;
}

/** A submission that passed every stateless check and is ready to be stored. */
export interface VerifiedTx {
  id: string;
  lane: string;
  body: string;
  signer: string;
  signature: string;
  tx: TxBody;
}

const BODY_KEYS = ['lane', 'from', 'kind', 'args', 'nonce'] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The transaction id: hex SHA-256 of the UTF-8 bytes of `body`. */
export function txId(body: string): string {
  return sha256Hex(Buffer.from(body, 'utf8'));
}

/** Parses a stored body (already verified at intake) back into its fields. */
export function parseBody(body: string): TxBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new BatonError('bad_tx', 'body is not valid JSON');
  }
  if (!isRecord(parsed)) throw new BatonError('bad_tx', 'body must be a JSON object');
  const keys = Object.keys(parsed);
  if (keys.length !== BODY_KEYS.length || !BODY_KEYS.every((k) => Object.hasOwn(parsed, k))) {
    throw new BatonError('bad_tx', 'body must have exactly the fields lane, from, kind, args, nonce');
  }
  const { lane, from, kind, args, nonce } = parsed;
  if (typeof lane !== 'string' || !LANE_NAME.test(lane))
    throw new BatonError('bad_tx', 'body.lane is not a lane name');
  if (typeof from !== 'string' || !HEX32.test(from))
    throw new BatonError('bad_tx', 'body.from must be 32 bytes of hex');
  if (typeof kind !== 'string' || kind.length === 0 || kind.length > 64) {
    throw new BatonError('bad_tx', 'body.kind must be a string of 1..64 characters');
  }
  const nonceOk =
    (typeof nonce === 'number' && Number.isSafeInteger(nonce) && nonce >= 0) ||
    (typeof nonce === 'string' && nonce.length >= 1 && nonce.length <= MAX_NONCE_LENGTH);
  if (!nonceOk)
    throw new BatonError(
      'bad_tx',
      'body.nonce must be a non-negative integer or a string of 1..64 characters',
    );
  return { lane, from, kind, args, nonce: nonce };
}

/**
 * Every stateless check of a submission, cheapest first: envelope shape, sizes, lane,
 * body fields, from = signer, app-level argument checks, and last the signature.
 */
export function verifySubmission(
  envelope: unknown,
  urlLane: string,
  /** The lane's check of kind and arguments (throws a coded refusal). */
  checker: { validate(kind: string, args: unknown): void },
  verifier: SignatureVerifier,
): VerifiedTx {
  if (!isRecord(envelope)) throw new BatonError('bad_envelope');
  const { body, signer, signature } = envelope;
  if (
    Object.keys(envelope).length !== 3 ||
    typeof body !== 'string' ||
    typeof signer !== 'string' ||
    typeof signature !== 'string'
  ) {
    throw new BatonError('bad_envelope');
  }
  if (!HEX32.test(signer)) throw new BatonError('bad_envelope', 'signer must be 32 bytes of hex');
  if (!HEX64.test(signature)) throw new BatonError('bad_envelope', 'signature must be 64 bytes of hex');
  if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES) {
    throw new BatonError('body_too_large', `the transaction body exceeds ${MAX_BODY_BYTES} bytes`);
  }
  if (body.includes('\u0000')) throw new BatonError('bad_tx', 'body must not contain NUL characters');
  const tx = parseBody(body);
  if (tx.lane !== urlLane)
    throw new BatonError('wrong_lane', `the body names lane "${tx.lane}", the URL "${urlLane}"`);
  const signerHex = signer.toLowerCase();
  if (tx.from.toLowerCase() !== signerHex) throw new BatonError('signer_mismatch');
  checker.validate(tx.kind, tx.args);
  if (!verifier.verify(signerHex, body, signature)) throw new BatonError('bad_signature');
  return { id: txId(body), lane: tx.lane, body, signer: signerHex, signature: signature.toLowerCase(), tx };
}
