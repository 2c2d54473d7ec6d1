import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, sha256Hex } from '../../src/ledger/canonical.js';

describe('canonicalJson', () => {
  it('encodes scalars like JSON', () => {
    assert.equal(canonicalJson(null), 'null');
    assert.equal(canonicalJson(true), 'true');
    assert.equal(canonicalJson(false), 'false');
    assert.equal(canonicalJson(0), '0');
    assert.equal(canonicalJson(-42), '-42');
    assert.equal(canonicalJson('x'), '"x"');
  });

  it('does not depend on the order keys were inserted in', () => {
    const a = { b: 1, a: 2, c: { z: true, y: null } };
    const b = { c: { y: null, z: true }, a: 2, b: 1 };
    assert.equal(canonicalJson(a), canonicalJson(b));
    assert.equal(canonicalJson(a), '{"a":2,"b":1,"c":{"y":null,"z":true}}');
  });

  it('sorts keys by UTF-16 code unit, not by locale', () => {
    // 'B' (0x42) < 'a' (0x61) < 'é' (0xe9) < '😀' (0xd83d...) in UTF-16 code units.
    const value = { a: 1, é: 2, '😀': 3, B: 4, '': 5 };
    assert.equal(canonicalJson(value), '{"":5,"B":4,"a":1,"é":2,"😀":3}');
  });

  it('encodes nested objects and arrays with no white space', () => {
    const value = { list: [1, [2, [3, { k: 'v' }]], []], empty: {} };
    assert.equal(canonicalJson(value), '{"empty":{},"list":[1,[2,[3,{"k":"v"}]],[]]}');
  });

  it('keeps array order (arrays are not sorted)', () => {
    assert.equal(canonicalJson([3, 1, 2]), '[3,1,2]');
    assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
  });

  it('round-trips through JSON.parse to an equal value', () => {
    const value = { z: [1, 'two', { three: null }], a: { nested: { deep: [true, false] } } };
    assert.deepEqual(JSON.parse(canonicalJson(value)), value);
  });

  it('escapes strings exactly as JSON.stringify does (quotes, control characters, unicode)', () => {
    const samples = [
      'plain',
      'quote " and backslash \\',
      'new\nline\ttab\rreturn\bback\fform',
      'nul \u0000 and \u001f',
      'unicode é 中文 😀',
      'line separator \u2028 paragraph \u2029',
      '',
    ];
    for (const s of samples) {
      assert.equal(canonicalJson(s), JSON.stringify(s));
      assert.equal(JSON.parse(canonicalJson(s)), s);
    }
  });

  it('escapes lone surrogates so the output is well-formed UTF-16', () => {
    assert.equal(canonicalJson('\ud800'), '"\\ud800"');
    assert.equal(canonicalJson('a\udfffb'), '"a\\udfffb"');
  });

  it('escapes special characters in keys too', () => {
    assert.equal(canonicalJson({ 'a"b': 1, 'c\nd': 2 }), '{"a\\"b":1,"c\\nd":2}');
  });

  it('accepts the largest and smallest safe integers', () => {
    assert.equal(canonicalJson(Number.MAX_SAFE_INTEGER), '9007199254740991');
    assert.equal(canonicalJson(Number.MIN_SAFE_INTEGER), '-9007199254740991');
  });

  it('encodes negative zero as 0', () => {
    assert.equal(canonicalJson(-0), '0');
  });

  for (const [name, n] of [
    ['a float', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['2**53', 2 ** 53],
    ['-(2**53)', -(2 ** 53)],
    ['1e308', 1e308],
  ] as const) {
    it(`rejects ${name}`, () => {
      assert.throws(() => canonicalJson(n), TypeError);
      assert.throws(() => canonicalJson({ nested: [n] }), TypeError);
    });
  }

  it('rejects values JSON cannot hold (bigint, function, symbol, undefined at the top)', () => {
    assert.throws(() => canonicalJson(1n), TypeError);
    assert.throws(() => canonicalJson(() => 1), TypeError);
    assert.throws(() => canonicalJson(Symbol('s')), TypeError);
    assert.throws(() => canonicalJson(undefined), TypeError);
  });

  it('skips keys whose value is undefined', () => {
    assert.equal(canonicalJson({ a: 1, b: undefined, c: 3 }), '{"a":1,"c":3}');
    assert.equal(canonicalJson({ only: undefined }), '{}');
    assert.equal(canonicalJson({ a: 1, b: undefined }), canonicalJson({ a: 1 }));
  });

  it('keeps keys whose value is null', () => {
    assert.equal(canonicalJson({ a: null }), '{"a":null}');
  });
});

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 test vectors', () => {
    assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(
      sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'),
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('hashes strings as UTF-8, the same as their bytes', () => {
    const text = 'é 中文 😀';
    assert.equal(sha256Hex(text), sha256Hex(Buffer.from(text, 'utf8')));
    assert.equal(sha256Hex(new Uint8Array([0x61, 0x62, 0x63])), sha256Hex('abc'));
  });

  it('returns 64 lowercase hex characters', () => {
    assert.match(sha256Hex('anything'), /^[0-9a-f]{64}$/);
  });
});
