import { createRequire } from 'node:module';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';

// DER prefixes that wrap a raw 32-byte ed25519 key as SPKI (public) and PKCS#8 (private).
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export const HEX32 = /^[0-9a-fA-F]{64}$/;
export const HEX64 = /^[0-9a-fA-F]{128}$/;

export interface KeyPair {
  /** Raw 32-byte ed25519 public key, lowercase hex: the account address. */
  publicKey: string;
  /** Raw 32-byte ed25519 seed, lowercase hex. */
  secretKey: string;
}

export function generateKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  return { publicKey: pub.toString('hex'), secretKey: seed.toString('hex') };
}

/**
 * A raw public key as a KeyObject. Imported as JWK: OpenSSL's DER decoder costs about as much as
 * a signature verification, the raw JWK import a tenth of that.
 */
export function publicKeyObject(hex: string): KeyObject {
  const raw = Buffer.from(hex, 'hex');
  if (raw.length !== 32) throw new Error('an ed25519 public key is 32 bytes');
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
}

export function privateKeyObject(secretHex: string): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, Buffer.from(secretHex, 'hex')]),
    format: 'der',
    type: 'pkcs8',
  });
}

/** ed25519 signature (hex) over the UTF-8 bytes of `message`. */
export function signMessage(secretHex: string, message: string): string {
  return sign(null, Buffer.from(message, 'utf8'), privateKeyObject(secretHex)).toString('hex');
}

/** ed25519 verification over raw bytes; libsodium when its native binding loads, else OpenSSL. */
interface Sodium {
  crypto_sign_verify_detached(signature: Buffer, message: Buffer, publicKey: Buffer): boolean;
}

export type VerifierBackend = 'libsodium' | 'openssl';

let sodiumBinding: Sodium | null | undefined;

/**
 * libsodium's ed25519 verification costs about half of OpenSSL's, and verification is the largest
 * single cost of a submission. The binding is an optional dependency: without a prebuilt binary for
 * the platform, verification falls back to node:crypto.
 */
function loadSodium(): Sodium | null {
  if (sodiumBinding === undefined) {
    try {
      sodiumBinding = createRequire(import.meta.url)('sodium-native') as Sodium;
    } catch {
      sodiumBinding = null;
    }
  }
  return sodiumBinding;
}

/** Verifies signatures, keeping the parsed public keys of recent signers (bounded). */
export class SignatureVerifier {
  readonly backend: VerifierBackend;
  private readonly sodium: Sodium | null;
  private readonly keys = new Map<string, KeyObject>();

  constructor(
    options: { backend?: VerifierBackend } = {},
    private readonly maxKeys = 10_000,
  ) {
    this.sodium = options.backend === 'openssl' ? null : loadSodium();
    if (options.backend === 'libsodium' && !this.sodium)
      throw new Error('libsodium (sodium-native) is not available');
    this.backend = this.sodium ? 'libsodium' : 'openssl';
  }

  verify(signerHex: string, message: string, signatureHex: string): boolean {
    const signature = Buffer.from(signatureHex, 'hex');
    if (signature.length !== 64) return false;
    if (this.sodium) {
      const publicKey = Buffer.from(signerHex, 'hex');
      if (publicKey.length !== 32) return false;
      return this.sodium.crypto_sign_verify_detached(signature, Buffer.from(message, 'utf8'), publicKey);
    }
    let key = this.keys.get(signerHex);
    if (!key) {
      try {
        key = publicKeyObject(signerHex);
      } catch {
        return false;
      }
      if (this.keys.size >= this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
      this.keys.set(signerHex, key);
    }
    try {
      return verify(null, Buffer.from(message, 'utf8'), key, signature);
    } catch {
      return false;
    }
  }
}
