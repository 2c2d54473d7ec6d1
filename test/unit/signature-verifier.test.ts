import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignatureVerifier, generateKeyPair, signMessage } from '../../src/ledger/keys.js';

const alice = generateKeyPair();
const bob = generateKeyPair();
const message = JSON.stringify({
  lane: 'main',
  from: alice.publicKey,
  kind: 'faucet',
  args: { amount: 1 },
  nonce: 7,
});
const signature = signMessage(alice.secretKey, message);
// The group order L: S + L is the same scalar mod L, a malleated (non-canonical) signature.
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function malleated(sigHex: string): string {
  const bytes = Buffer.from(sigHex, 'hex');
  const s = BigInt('0x' + Buffer.from(bytes.subarray(32)).reverse().toString('hex'));
  const bumped = Buffer.from((s + L).toString(16).padStart(64, '0'), 'hex').reverse();
  return Buffer.concat([bytes.subarray(0, 32), bumped]).toString('hex');
}

const cases: Array<[string, string, string, string, boolean]> = [
  ['a valid signature', alice.publicKey, message, signature, true],
  ['a tampered message', alice.publicKey, message.replace('"amount":1', '"amount":2'), signature, false],
  ['a signature by another key', alice.publicKey, message, signMessage(bob.secretKey, message), false],
  [
    'a flipped bit in R',
    alice.publicKey,
    message,
    (signature[0] === '0' ? '1' : '0') + signature.slice(1),
    false,
  ],
  [
    'a flipped bit in S',
    alice.publicKey,
    message,
    signature.slice(0, 64) + (signature[64] === '0' ? '1' : '0') + signature.slice(65),
    false,
  ],
  ['a non-canonical S (S + L)', alice.publicKey, message, malleated(signature), false],
  ['an all-zero signature', alice.publicKey, message, '0'.repeat(128), false],
];

for (const backend of ['libsodium', 'openssl'] as const) {
  describe(`SignatureVerifier (${backend})`, () => {
    const verifier = new SignatureVerifier({ backend });

    it('uses the backend asked for', () => assert.equal(verifier.backend, backend));

    for (const [name, signer, msg, sig, expected] of cases) {
      it(`${expected ? 'accepts' : 'refuses'} ${name}`, () => {
        assert.equal(verifier.verify(signer, msg, sig), expected);
      });
    }

    it('refuses a signer that is not a curve point or is a small-order point', () => {
      // y = 2 does not decode to a point; the identity (y = 1) has order 1.
      const notAPoint = '02' + '00'.repeat(31);
      const identity = '01' + '00'.repeat(31);
      assert.equal(verifier.verify(notAPoint, message, signature), false);
      assert.equal(verifier.verify(identity, message, signature), false);
    });
  });
}

describe('SignatureVerifier default', () => {
  it('prefers libsodium, which ships as a prebuilt optional dependency', () => {
    assert.equal(new SignatureVerifier().backend, 'libsodium');
  });
});
