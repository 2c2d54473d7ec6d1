import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { BatonError, type ErrorCode } from '../../src/errors.js';
import { tokenApp } from '../../src/apps/token.js';
import { MAX_BODY_BYTES, parseBody, txId, verifySubmission } from '../../src/ledger/envelope.js';
import { SignatureVerifier, generateKeyPair, signMessage, type KeyPair } from '../../src/ledger/keys.js';
import { signTx } from '../../src/client/tx.js';

const LANE = 'main';
const alice = generateKeyPair();
const bob = generateKeyPair();

/** A fresh verifier per call, so no cached key can hide a bug. */
function verify(envelope: unknown, urlLane = LANE) {
  return verifySubmission(envelope, urlLane, tokenApp, new SignatureVerifier());
}

function rejects(envelope: unknown, code: ErrorCode, urlLane = LANE): void {
  assert.throws(
    () => verify(envelope, urlLane),
    (error: unknown) => {
      assert.ok(error instanceof BatonError, `expected a BatonError, got ${String(error)}`);
      assert.equal(error.code, code, `expected code ${code}, got ${error.code}: ${error.message}`);
      return true;
    },
  );
}

/** A body object for alice, with any field replaced (or removed when set to undefined). */
function bodyObject(overrides: Record<string, unknown> = {}, key: KeyPair = alice): Record<string, unknown> {
  const base: Record<string, unknown> = {
    lane: LANE,
    from: key.publicKey,
    kind: 'faucet',
    args: { amount: 5 },
    nonce: 1,
    ...overrides,
  };
  for (const k of Object.keys(base)) if (base[k] === undefined) delete base[k];
  return base;
}

/** A correctly signed envelope around an arbitrary body text. */
function signed(body: string, key: KeyPair = alice) {
  return { body, signer: key.publicKey, signature: signMessage(key.secretKey, body) };
}

function signedBody(overrides: Record<string, unknown> = {}, key: KeyPair = alice) {
  return signed(JSON.stringify(bodyObject(overrides, key)), key);
}

/** A valid body padded with trailing JSON white space to exactly `bytes` UTF-8 bytes. */
function padded(bytes: number): string {
  const body = JSON.stringify(bodyObject());
  return body + ' '.repeat(bytes - Buffer.byteLength(body, 'utf8'));
}

describe('verifySubmission: a valid submission', () => {
  it('returns the id as the lowercase hex SHA-256 of the UTF-8 body bytes', async () => {
    const { id, envelope } = await signTx(
      LANE,
      { kind: 'faucet', args: { amount: 10 }, nonce: 'n-1' },
      alice,
    );
    const tx = verify(envelope);
    const expected = createHash('sha256').update(Buffer.from(envelope.body, 'utf8')).digest('hex');
    assert.equal(tx.id, expected);
    assert.equal(id, expected);
    assert.equal(tx.lane, LANE);
    assert.equal(tx.body, envelope.body);
    assert.equal(tx.signer, alice.publicKey);
    assert.deepEqual(tx.tx, {
      lane: LANE,
      from: alice.publicKey,
      kind: 'faucet',
      args: { amount: 10 },
      nonce: 'n-1',
    });
  });

  it('hashes non-ASCII bodies as UTF-8 bytes', () => {
    const envelope = signedBody({ nonce: 'é-中-😀' });
    const expected = createHash('sha256').update(Buffer.from(envelope.body, 'utf8')).digest('hex');
    assert.equal(verify(envelope).id, expected);
    assert.equal(txId(envelope.body), expected);
  });

  it('accepts an uppercase hex signer and returns it lowercase', () => {
    const envelope = signedBody();
    const tx = verify({ ...envelope, signer: envelope.signer.toUpperCase() });
    assert.equal(tx.signer, alice.publicKey);
    assert.equal(tx.signer, tx.signer.toLowerCase());
  });

  it('accepts an uppercase `from` in the body that matches the signer', () => {
    const body = JSON.stringify(bodyObject({ from: alice.publicKey.toUpperCase() }));
    const tx = verify(signed(body));
    assert.equal(tx.signer, alice.publicKey);
  });

  it('accepts an uppercase hex signature and returns it lowercase', () => {
    const envelope = signedBody();
    const tx = verify({ ...envelope, signature: envelope.signature.toUpperCase() });
    assert.equal(tx.signature, envelope.signature.toLowerCase());
  });

  it('accepts a transfer', () => {
    const tx = verify(signedBody({ kind: 'transfer', args: { to: bob.publicKey, amount: 7 } }));
    assert.equal(tx.tx.kind, 'transfer');
  });

  it('accepts a body of exactly MAX_BODY_BYTES bytes', () => {
    const body = padded(MAX_BODY_BYTES);
    assert.equal(Buffer.byteLength(body, 'utf8'), MAX_BODY_BYTES);
    assert.equal(verify(signed(body)).body, body);
  });

  it('gives the same id to the same body whoever submits it again', async () => {
    const { envelope } = await signTx(LANE, { kind: 'faucet', args: { amount: 1 }, nonce: 9 }, alice);
    assert.equal(verify(envelope).id, verify({ ...envelope }).id);
  });
});

describe('verifySubmission: bad_envelope', () => {
  const good = signedBody();
  for (const [name, envelope] of [
    ['null', null],
    ['a string', 'hello'],
    ['a number', 42],
    ['an array', [good.body, good.signer, good.signature]],
    ['an empty object', {}],
    ['a missing body', { signer: good.signer, signature: good.signature }],
    ['a missing signer', { body: good.body, signature: good.signature }],
    ['a missing signature', { body: good.body, signer: good.signer }],
    ['an extra field', { ...good, extra: 1 }],
    ['a missing field replaced by another', { body: good.body, signer: good.signer, sig: good.signature }],
    ['a non-string body', { ...good, body: JSON.parse(good.body) as unknown }],
    ['a non-string signer', { ...good, signer: 1 }],
    ['a non-string signature', { ...good, signature: null }],
    ['a non-hex signer', { ...good, signer: 'z'.repeat(64) }],
    ['a short signer', { ...good, signer: good.signer.slice(2) }],
    ['a long signer', { ...good, signer: good.signer + '00' }],
    ['a 0x-prefixed signer', { ...good, signer: '0x' + good.signer.slice(2) }],
    ['a short signature', { ...good, signature: good.signature.slice(2) }],
    ['a long signature', { ...good, signature: good.signature + 'ab' }],
    ['a non-hex signature', { ...good, signature: 'g' + good.signature.slice(1) }],
  ] as const) {
    it(`refuses ${name}`, () => rejects(envelope, 'bad_envelope'));
  }
});

describe('verifySubmission: body_too_large', () => {
  it('refuses a body of MAX_BODY_BYTES + 1 bytes', () => {
    const body = padded(MAX_BODY_BYTES + 1);
    assert.equal(Buffer.byteLength(body, 'utf8'), MAX_BODY_BYTES + 1);
    rejects(signed(body), 'body_too_large');
  });

  it('counts UTF-8 bytes, not UTF-16 code units', () => {
    // 1500 three-byte characters: 1500 code units but 4500 bytes.
    const body = JSON.stringify(bodyObject({ nonce: 'n' })).replace('"n"', `"${'中'.repeat(1500)}"`);
    assert.ok(body.length <= MAX_BODY_BYTES);
    rejects(signed(body), 'body_too_large');
  });

  it('refuses 100000 levels of nesting before trying to parse them', () => {
    rejects(signed('['.repeat(100_000) + ']'.repeat(100_000)), 'body_too_large');
  });
});

describe('verifySubmission: bad_tx', () => {
  const cases: Array<[string, string]> = [
    ['a non-JSON body', 'not json'],
    ['a truncated JSON body', JSON.stringify(bodyObject()).slice(0, -1)],
    ['an empty body', ''],
    ['a JSON array body', JSON.stringify([bodyObject()])],
    ['a JSON string body', JSON.stringify('faucet')],
    ['a JSON null body', 'null'],
    ['a deeply nested array body', '['.repeat(2000) + ']'.repeat(2000)],
    ['an extra body field', JSON.stringify(bodyObject({ extra: true }))],
    ['a missing lane', JSON.stringify(bodyObject({ lane: undefined }))],
    ['a missing from', JSON.stringify(bodyObject({ from: undefined }))],
    ['a missing kind', JSON.stringify(bodyObject({ kind: undefined }))],
    ['a missing args', JSON.stringify(bodyObject({ args: undefined }))],
    ['a missing nonce', JSON.stringify(bodyObject({ nonce: undefined }))],
    ['an uppercase lane name', JSON.stringify(bodyObject({ lane: 'Main' }))],
    ['an empty lane name', JSON.stringify(bodyObject({ lane: '' }))],
    ['a lane name with a slash', JSON.stringify(bodyObject({ lane: 'ma/in' }))],
    ['a lane name starting with -', JSON.stringify(bodyObject({ lane: '-main' }))],
    ['a 64-character lane name', JSON.stringify(bodyObject({ lane: 'a'.repeat(64) }))],
    ['a numeric lane', JSON.stringify(bodyObject({ lane: 1 }))],
    ['a non-hex from', JSON.stringify(bodyObject({ from: 'z'.repeat(64) }))],
    ['a short from', JSON.stringify(bodyObject({ from: alice.publicKey.slice(1) }))],
    ['a numeric from', JSON.stringify(bodyObject({ from: 12 }))],
    ['an empty kind', JSON.stringify(bodyObject({ kind: '' }))],
    ['a 65-character kind', JSON.stringify(bodyObject({ kind: 'k'.repeat(65) }))],
    ['a numeric kind', JSON.stringify(bodyObject({ kind: 1 }))],
    ['a negative nonce', JSON.stringify(bodyObject({ nonce: -1 }))],
    ['a float nonce', JSON.stringify(bodyObject({ nonce: 1.5 }))],
    ['an unsafe integer nonce', JSON.stringify(bodyObject({ nonce: 2 ** 53 }))],
    ['an empty string nonce', JSON.stringify(bodyObject({ nonce: '' }))],
    ['a 65-character nonce', JSON.stringify(bodyObject({ nonce: 'n'.repeat(65) }))],
    ['an object nonce', JSON.stringify(bodyObject({ nonce: { n: 1 } }))],
    ['a null nonce', JSON.stringify(bodyObject({ nonce: null }))],
    ['a boolean nonce', JSON.stringify(bodyObject({ nonce: true }))],
    ['a raw NUL character in the body', JSON.stringify(bodyObject()).replace('{', '{\u0000')],
    [
      'a raw NUL character inside a string',
      JSON.stringify(bodyObject({ nonce: 'n' })).replace('"n"', '"a\u0000b"'),
    ],
    ['a raw NUL character after the JSON', JSON.stringify(bodyObject()) + '\u0000'],
  ];
  for (const [name, body] of cases) {
    it(`refuses ${name}`, () => rejects(signed(body), 'bad_tx'));
  }

  it('accepts a 64-character nonce and a 63-character lane name (the limits)', () => {
    verify(signedBody({ nonce: 'n'.repeat(64) }));
    const lane = 'a'.repeat(63);
    verify(signedBody({ lane }), lane);
  });
});

describe('verifySubmission: wrong_lane, signer_mismatch', () => {
  it('refuses a body naming another lane than the URL', () => {
    rejects(signedBody({ lane: 'other' }), 'wrong_lane');
    rejects(signedBody(), 'wrong_lane', 'other');
  });

  it('refuses a body whose from is not the signer', () => {
    const body = JSON.stringify(bodyObject({ from: bob.publicKey }));
    rejects(signed(body, alice), 'signer_mismatch');
  });

  it('refuses an envelope whose signer is not the body from, even when signed by from', () => {
    const envelope = signedBody();
    rejects({ ...envelope, signer: bob.publicKey }, 'signer_mismatch');
  });
});

describe('verifySubmission: unknown_kind, bad_args', () => {
  for (const kind of ['mint', 'Faucet', 'TRANSFER', '__proto__', 'toString']) {
    it(`refuses the unknown kind ${kind}`, () => rejects(signedBody({ kind }), 'unknown_kind'));
  }

  const faucetArgs: Array<[string, unknown]> = [
    ['amount 0', { amount: 0 }],
    ['amount 1001', { amount: 1001 }],
    ['amount -1', { amount: -1 }],
    ['amount 1.5', { amount: 1.5 }],
    ['amount "5"', { amount: '5' }],
    ['amount null', { amount: null }],
    ['amount 1e308', { amount: 1e308 }],
    ['an extra key', { amount: 5, to: bob.publicKey }],
    ['no amount', {}],
    ['args null', null],
    ['args an array', [5]],
    ['args a number', 5],
  ];
  for (const [name, args] of faucetArgs) {
    it(`refuses faucet with ${name}`, () => rejects(signedBody({ kind: 'faucet', args }), 'bad_args'));
  }

  it('accepts faucet amounts 1 and 1000 (the limits)', () => {
    verify(signedBody({ args: { amount: 1 } }));
    verify(signedBody({ args: { amount: 1000 } }));
  });

  const transferArgs: Array<[string, unknown]> = [
    ['a non-hex to', { to: 'z'.repeat(64), amount: 1 }],
    ['a short to', { to: bob.publicKey.slice(2), amount: 1 }],
    ['a numeric to', { to: 1, amount: 1 }],
    ['amount 0', { to: bob.publicKey, amount: 0 }],
    ['amount -5', { to: bob.publicKey, amount: -5 }],
    ['amount 2.5', { to: bob.publicKey, amount: 2.5 }],
    ['amount "5"', { to: bob.publicKey, amount: '5' }],
    ['an unsafe amount', { to: bob.publicKey, amount: 2 ** 53 }],
    ['an extra key', { to: bob.publicKey, amount: 1, memo: 'x' }],
    ['no to', { amount: 1 }],
  ];
  for (const [name, args] of transferArgs) {
    it(`refuses transfer with ${name}`, () => rejects(signedBody({ kind: 'transfer', args }), 'bad_args'));
  }
});

describe('verifySubmission: bad_signature', () => {
  it('refuses a tampered body', () => {
    const envelope = signedBody({ args: { amount: 5 } });
    const tampered = envelope.body.replace('"amount":5', '"amount":6');
    assert.notEqual(tampered, envelope.body);
    rejects({ ...envelope, body: tampered }, 'bad_signature');
  });

  it('refuses a signature made by another key', () => {
    const body = JSON.stringify(bodyObject());
    rejects({ body, signer: alice.publicKey, signature: signMessage(bob.secretKey, body) }, 'bad_signature');
  });

  it('refuses a signature with any single flipped bit', () => {
    const envelope = signedBody();
    const bytes = Buffer.from(envelope.signature, 'hex');
    for (const bit of [0, 7, 100, 255, 256, 511]) {
      const flipped = Buffer.from(bytes);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      rejects({ ...envelope, signature: flipped.toString('hex') }, 'bad_signature');
    }
  });

  it('refuses an all-zero signature', () => {
    rejects({ ...signedBody(), signature: '0'.repeat(128) }, 'bad_signature');
  });

  it('refuses a signer that is not a valid public key', () => {
    const signer = 'f'.repeat(64);
    const body = JSON.stringify(bodyObject({ from: signer }));
    rejects({ body, signer, signature: signMessage(alice.secretKey, body) }, 'bad_signature');
  });

  it('refuses a signature over the body with different white space', () => {
    const body = JSON.stringify(bodyObject());
    const spaced = JSON.stringify(bodyObject(), null, 1);
    rejects(
      { body: spaced, signer: alice.publicKey, signature: signMessage(alice.secretKey, body) },
      'bad_signature',
    );
  });

  it('checks the signature after every other check (a bad signature on a bad body reports the body)', () => {
    const body = JSON.stringify(bodyObject({ args: { amount: 0 } }));
    rejects({ body, signer: alice.publicKey, signature: '0'.repeat(128) }, 'bad_args');
  });
});

describe('parseBody', () => {
  it('returns the five fields of a valid body', () => {
    const body = JSON.stringify(bodyObject({ nonce: 'abc' }));
    assert.deepEqual(parseBody(body), bodyObject({ nonce: 'abc' }));
  });

  it('accepts nonce 0 and MAX_SAFE_INTEGER', () => {
    assert.equal(parseBody(JSON.stringify(bodyObject({ nonce: 0 }))).nonce, 0);
    assert.equal(
      parseBody(JSON.stringify(bodyObject({ nonce: Number.MAX_SAFE_INTEGER }))).nonce,
      Number.MAX_SAFE_INTEGER,
    );
  });

  it('throws bad_tx for invalid bodies', () => {
    for (const body of ['', '{', '[]', '{}', JSON.stringify(bodyObject({ nonce: -1 }))]) {
      assert.throws(
        () => parseBody(body),
        (e: unknown) => e instanceof BatonError && e.code === 'bad_tx',
      );
    }
  });
});

describe('txId', () => {
  it('is the lowercase hex SHA-256 of the UTF-8 bytes', () => {
    assert.equal(txId('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(
      txId('é'),
      createHash('sha256')
        .update(Buffer.from([0xc3, 0xa9]))
        .digest('hex'),
    );
  });
});

describe('signTx', () => {
  it('produces a submission that verifies and whose id matches', async () => {
    const { id, envelope } = await signTx(
      LANE,
      { kind: 'transfer', args: { to: bob.publicKey, amount: 3 } },
      alice,
    );
    assert.equal(verify(envelope).id, id);
  });

  it('gives different ids to two signings without an explicit nonce', async () => {
    const a = await signTx(LANE, { kind: 'faucet', args: { amount: 1 } }, alice);
    const b = await signTx(LANE, { kind: 'faucet', args: { amount: 1 } }, alice);
    assert.notEqual(a.id, b.id);
  });

  it('gives the same id for the same explicit nonce', async () => {
    const a = await signTx(LANE, { kind: 'faucet', args: { amount: 1 }, nonce: 7 }, alice);
    const b = await signTx(LANE, { kind: 'faucet', args: { amount: 1 }, nonce: 7 }, alice);
    assert.equal(a.id, b.id);
  });
});
