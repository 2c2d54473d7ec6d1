import { createPublicKey } from 'node:crypto';
import { privateKeyObject, type KeyPair } from '../../src/ledger/keys.js';

/** A fixed key, so a seed reproduces the same bodies, ids and signatures. */
function keyFromSeed(byte: number): KeyPair {
  const secretKey = Buffer.alloc(32, byte).toString('hex');
  const spki = createPublicKey(privateKeyObject(secretKey)).export({ format: 'der', type: 'spki' });
  return { publicKey: spki.subarray(-32).toString('hex'), secretKey };
}

/** The accounts fuzzed transactions are signed by, send to, and are read back from. */
export const KEYS = [keyFromSeed(1), keyFromSeed(2), keyFromSeed(3)] as const;
