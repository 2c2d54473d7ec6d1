import fc from 'fast-check';
import { METHODS, pathArb } from './fuzz-http.js';
import { bodyArb, headerSafe, preview, printedAs } from './fuzz-values.js';

/** Request bytes written as they are on a TCP socket, for what node:http refuses to send. */
export interface RawCase {
  method: string;
  bytes: Buffer;
  /** Half-close after writing, so a server waiting for more of the body sees the end at once. */
  halfClose: boolean;
}

const methodArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...METHODS) },
  { weight: 1, arbitrary: fc.constantFrom('', 'GET\t', 'G T', '\u0000', 'POST POST', '\u00ff') },
);

const targetArb = fc.oneof(
  { weight: 5, arbitrary: pathArb },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => `/${s}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('*', 'http://replica/livez', '//x/livez', 'http://[::1]:1/v1/cluster', ''),
  },
  { weight: 1, arbitrary: fc.constantFrom('replica:443', '/\u0000', '/livez HTTP/1.1\r\nx: y', '/%') },
);

const versionArb = fc.constantFrom(
  ...['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9'],
  ...['http/1.1', 'HTTP/1.1 x', ''],
);

const headerLineArb = fc.oneof(
  fc
    .tuple(fc.stringMatching(/^x-[a-z0-9-]{1,12}$/), fc.string({ unit: 'grapheme-ascii', maxLength: 30 }))
    .map(([name, value]) => `${name}: ${headerSafe(value)}`),
  fc.constantFrom(
    ...['x-a : b', 'x-a: b\r\n c', 'no-colon', ': empty-name', 'x-nul: a\u0000b', 'x-latin: \u00ff\u00e9'],
    ...['expect: 100-continue', 'expect: nope', 'content-encoding: gzip', 'host: second'],
    ...['connection: upgrade\r\nupgrade: websocket', 'upgrade: h2c', `x-long: ${'a'.repeat(20_000)}`],
  ),
);

const FRAMINGS = [
  ...['length', 'short', 'long', 'double', 'weird-length', 'chunked', 'chunked-bad', 'te+cl'],
  ...['te-other', 'none'],
] as const;
type FramingKind = (typeof FRAMINGS)[number];

interface FramingParams {
  kind: FramingKind;
  delta: number;
  chunkSizes: number[];
  variant: number;
}

interface Framed {
  headers: string[];
  payload: Buffer;
  halfClose?: boolean;
}

const WEIRD_LENGTHS = ['-1', '+5', '0x10', '1e3', ' 5', '99999999999999999999', '', 'abc', '5, 5', '5 5'];
const TRANSFER_ENCODINGS = [
  'gzip',
  'chunked, gzip',
  'identity',
  'chunked\u0000',
  'chunkedx',
  'gzip, chunked',
];

function chunked(body: Buffer, sizes: number[], variant: number): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (let i = 0; offset < body.length; i++) {
    // At most ~500 chunks, so a huge body is not framed a byte at a time.
    const size = Math.max(sizes[i % sizes.length] ?? body.length, Math.ceil(body.length / 500), 1);
    const data = body.subarray(offset, offset + size);
    const extension = variant % 2 === 1 ? ';a=b' : '';
    parts.push(Buffer.from(`${data.length.toString(16)}${extension}\r\n`), data, Buffer.from('\r\n'));
    offset += size;
  }
  parts.push(Buffer.from(variant % 3 === 2 ? '0\r\nx-trailer: 1\r\n\r\n' : '0\r\n\r\n'));
  return Buffer.concat(parts);
}

function framed(body: Buffer, p: FramingParams): Framed {
  const length = body.length;
  switch (p.kind) {
    case 'length':
      return { headers: [`content-length: ${length}`], payload: body };
    case 'short':
      return { headers: [`content-length: ${length + p.delta}`], payload: body, halfClose: true };
    case 'long':
      return { headers: [`content-length: ${Math.max(0, length - p.delta)}`], payload: body };
    case 'double':
      return {
        headers: [
          `content-length: ${length}`,
          `content-length: ${p.variant % 2 ? length : length + p.delta}`,
        ],
        payload: body,
      };
    case 'weird-length':
      return {
        headers: [`content-length: ${WEIRD_LENGTHS[p.variant % WEIRD_LENGTHS.length]!}`],
        payload: body,
      };
    case 'chunked':
      return { headers: ['transfer-encoding: chunked'], payload: chunked(body, p.chunkSizes, p.variant) };
    case 'chunked-bad': {
      const bad = [
        Buffer.from('zz\r\nabc\r\n0\r\n\r\n'),
        Buffer.from('-1\r\n'),
        Buffer.concat([Buffer.from(`${(length + p.delta).toString(16)}\r\n`), body]),
        chunked(body, p.chunkSizes, 0).subarray(0, -5),
        Buffer.from('ffffffffffffffff\r\n'),
        Buffer.concat([Buffer.from(`${length.toString(16)}\r\n`), body, Buffer.from('XX0\r\n\r\n')]),
      ];
      return {
        headers: ['transfer-encoding: chunked'],
        payload: bad[p.variant % bad.length]!,
        halfClose: true,
      };
    }
    case 'te+cl':
      return {
        headers: [`content-length: ${length}`, 'transfer-encoding: chunked'],
        payload: chunked(body, p.chunkSizes, 0),
      };
    case 'te-other':
      return {
        headers: [`transfer-encoding: ${TRANSFER_ENCODINGS[p.variant % TRANSFER_ENCODINGS.length]!}`],
        payload: body,
        halfClose: true,
      };
    case 'none':
      return { headers: [], payload: body };
  }
}

/** A request with a fuzzed request line, headers, framing and body; the server is asked to close. */
export const rawCaseArb: fc.Arbitrary<RawCase> = fc
  .tuple(
    methodArb,
    targetArb,
    versionArb,
    fc.constantFrom('host: replica', 'host: replica', '', 'host: a\r\nhost: b'),
    fc.array(headerLineArb, { maxLength: 3 }),
    bodyArb,
    fc.record({
      kind: fc.constantFrom(...FRAMINGS),
      delta: fc.integer({ min: 1, max: 64 }),
      chunkSizes: fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 4 }),
      variant: fc.nat(),
    }),
    fc.boolean(),
  )
  .map(([method, target, version, host, extra, body, params, halfClose]) => {
    const f = framed(body ?? Buffer.alloc(0), params);
    const lines = [`${method} ${target} ${version}`, host, 'connection: close', ...extra, ...f.headers];
    const head = Buffer.from(`${lines.filter((l) => l !== '').join('\r\n')}\r\n\r\n`, 'utf8');
    const bytes = Buffer.concat([head, f.payload]);
    const close = f.halfClose ?? halfClose;
    return printedAs(
      { method, bytes, halfClose: close },
      `${preview(bytes, 600)}${close ? ' + half-close' : ''}`,
    );
  });
