// Browser-safe: WebCrypto only (globalThis.crypto, in browsers and in Node 20+). The node:crypto
// import below is for types only and disappears from the compiled code.
import type { webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type SubtleCrypto = webcrypto.SubtleCrypto;

/** An ed25519 key pair as hex: `publicKey` is the raw 32-byte key (the account), `secretKey` the 32-byte seed. */
export interface KeyPair {
  publicKey: string;
  secretKey: string;
}

const PKCS8_PREFIX = '302e020100300506032b657004220420';
const ED25519 = { name: 'Ed25519' } as const;
const encoder = new TextEncoder();
const signingKeys = new Map<string, CryptoKey>();

function subtle(): SubtleCrypto {
  const s = (globalThis.crypto as webcrypto.Crypto | undefined)?.subtle;
  if (!s) throw new Error('WebCrypto is not available (a secure context or Node 20+ is required)');
  return s;
}

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = '';
  for (const b of view) out += b.toString(16).padStart(2, '0');
  return out;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new Error('not hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export async function generateKeyPair(): Promise<KeyPair> {
  const pair = (await subtle().generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair;
  const publicKey = toHex(await subtle().exportKey('raw', pair.publicKey));
  const pkcs8 = toHex(await subtle().exportKey('pkcs8', pair.privateKey));
  return { publicKey, secretKey: pkcs8.slice(PKCS8_PREFIX.length) };
}

async function signingKey(secretHex: string): Promise<CryptoKey> {
  let key = signingKeys.get(secretHex);
  if (!key) {
    key = await subtle().importKey('pkcs8', fromHex(PKCS8_PREFIX + secretHex), ED25519, false, ['sign']);
    if (signingKeys.size >= 256) signingKeys.delete(signingKeys.keys().next().value!);
    signingKeys.set(secretHex, key);
  }
  return key;
}

/** ed25519 signature (hex) over the UTF-8 bytes of `message`. */
export async function signMessage(secretHex: string, message: string): Promise<string> {
  return toHex(await subtle().sign(ED25519, await signingKey(secretHex), encoder.encode(message)));
}

/** Hex SHA-256 of the UTF-8 bytes of `text`. */
export async function sha256Hex(text: string): Promise<string> {
  return toHex(await subtle().digest('SHA-256', encoder.encode(text)));
}
