import fc from 'fast-check';

/** The lanes the fuzzed replica serves; `other` stays unknown. */
export const LANES = ['main', 'side'] as const;

/** Percent-encodes (as UTF-8) every character node:http refuses in a request target. */
export function targetSafe(text: string): string {
  return text.replace(/[^\x21-\x7e]/gu, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

/** Drops what node:http refuses in a header value. */
export function headerSafe(text: string): string {
  return text.replace(/[^\t\x20-\x7e]/g, '');
}

export const hexArb = fc
  .tuple(fc.uint8Array({ minLength: 31, maxLength: 33 }), fc.boolean(), fc.boolean())
  .map(([bytes, upper, odd]) => {
    const hex = Buffer.from(bytes).toString('hex');
    return (upper ? hex.toUpperCase() : hex).slice(odd ? 1 : 0);
  });

const SPECIAL_SEGMENTS = [
  ...['', '.', '..', '%2e', '%2E%2e', '%2f', '%2F', '%5C', '%00', '%', '%zz', '%E0%A4%A', '%C0%AF', '%FF'],
  ...['%ED%A0%80', '%u0041', ';', ';x=1', '%20', '+', '~', '@', ':', '*', '%6Dain', 'm%61in', 'MAIN'],
  ...['main%00', '%EF%BB%BFmain', 'other', 'txs', 'blocks', 'accounts', 'stream', 'v1', 'lanes', 'livez'],
];

/** One path segment: dot segments, broken and tricky percent-encodings, unicode, very long ones. */
export const segmentArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...LANES, ...SPECIAL_SEGMENTS) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }).map(targetSafe) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }).map(targetSafe) },
  { weight: 1, arbitrary: fc.integer({ min: 60, max: 20_000 }).map((n) => 'a'.repeat(n)) },
  { weight: 2, arbitrary: hexArb },
);

/** Integer-looking query values at every edge the API parses. */
export const NUMBER_EDGES = [
  ...['0', '-1', '1', '2', '+1', '01', '00001', '1.5', '1.0', '1e3', '1e21', '2e0', 'NaN', 'Infinity'],
  ...['0x10', '0b1', '', '%20', '1%20', '%31', '%2B1', '%EF%BC%91', '1000', '1001', '100000', '-0'],
  ...['9007199254740991', '9007199254740992', '9999999999999999', '99999999999999999', 'true', '[]'],
  '18446744073709551616',
];

const queryValueArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NUMBER_EDGES) },
  { weight: 1, arbitrary: fc.nat().map(String) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 8 }).map(targetSafe) },
);

/** A query string (without `?`): repeated, empty and valueless parameters included. */
export const queryArb: fc.Arbitrary<string> = fc
  .array(fc.tuple(fc.constantFrom('from', 'limit', 'after', 'FROM', 'x', ''), queryValueArb, fc.boolean()), {
    maxLength: 4,
  })
  .map((pairs) => pairs.map(([k, v, eq]) => (eq ? `${k}=${v}` : k)).join('&'));

const loneSurrogateArb = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

const fieldValueArb: fc.Arbitrary<unknown> = fc.oneof(
  hexArb,
  fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }),
  fc.string({ unit: loneSurrogateArb, maxLength: 3 }),
);

/** JSON objects shaped like envelopes (random field values, missing and extra fields). */
const envelopeShapedArb = fc
  .tuple(
    fc.record({ body: fieldValueArb, signer: fieldValueArb, signature: fieldValueArb }, { requiredKeys: [] }),
    fc.dictionary(fc.string({ maxLength: 8 }), fieldValueArb, { maxKeys: 2 }),
  )
  .map(([fields, extra]) => JSON.stringify({ ...fields, ...extra }));

/** Deeply nested JSON, closed or not, around the sizes the API limits. */
const deepArb = fc
  .tuple(fc.integer({ min: 1, max: 70_000 }), fc.boolean(), fc.boolean())
  .map(([n, brackets, closed]) =>
    brackets
      ? '['.repeat(n) + (closed ? ']'.repeat(n) : '')
      : '{"a":'.repeat(n) + (closed ? '1' + '}'.repeat(n) : ''),
  );

const textBodyArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'binary-ascii', maxLength: 300 }),
  fc.jsonValue({ maxDepth: 8, stringUnit: 'binary' }).map((v) => JSON.stringify(v)),
  envelopeShapedArb,
  envelopeShapedArb.map((text) => `\uFEFF${text}`),
  deepArb,
);

/** Bodies around the 64 KiB request limit. */
const hugeArb = fc
  .tuple(
    fc.oneof(fc.constantFrom(65_535, 65_536, 65_537), fc.integer({ min: 60_000, max: 300_000 })),
    fc.constantFrom(' ', 'a', '[', '{"body":"'),
  )
  .map(([n, fill]) => Buffer.alloc(n, fill));

/** An HTTP request body: absent, empty, text, JSON of any shape, raw bytes, or huge. */
export const bodyArb: fc.Arbitrary<Buffer | undefined> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 8, arbitrary: textBodyArb.map((text) => Buffer.from(text)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 400 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: hugeArb },
);

/** The first bytes of `bytes` as readable text, with the length: for counterexamples. */
export function preview(bytes: Buffer | undefined, max = 300): string {
  if (bytes === undefined) return 'none';
  const text = JSON.stringify(bytes.subarray(0, max).toString('latin1'));
  return bytes.length > max ? `${bytes.length} bytes, starting ${text}` : text;
}

/** Makes fast-check print `value` as `text` in counterexamples (instead of every byte of a Buffer). */
export function printedAs<T extends object>(value: T, text: string): T {
  return Object.assign(value, { [fc.toStringMethod]: () => text });
}
