import { deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import {
  bodyArb,
  headerSafe,
  hexArb,
  LANES,
  preview,
  printedAs,
  queryArb,
  segmentArb,
  targetSafe,
} from './fuzz-values.js';

/** A request node:http is willing to send. */
export interface HttpCase {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Chunked transfer encoding in pieces of this many bytes. */
  chunkBytes?: number;
}

export const METHODS = [
  ...['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT'],
  ...['PROPFIND', 'PURGE', 'M-SEARCH', 'FOO', 'get'],
];

const FIXED_PATHS = [
  ...['/livez', '/readyz', '/v1/cluster', '/v1/admin/drain', '/', '*', '/v1', '/v1/lanes', '/v1/lanes/main'],
  ...['//livez', '/livez/', '/./livez', '/v1/../livez', '/v1/lanes/main/../side/blocks', '/%6civez'],
  ...['/LIVEZ', '/v2/cluster', '/v1//cluster', '/v1/admin/drain/', '/v1/admin/%64rain', 'livez'],
  ...['http://replica/livez', 'http://[/livez', '/v1/lanes/main/stream', '/v1/lanes/side/txs'],
];

const RESOURCES = ['txs', 'blocks', 'accounts', 'stream', 'nope', 'TXS', ''];

/** Paths under every route, with random segments where the API parses them. */
export const pathArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      { weight: 2, arbitrary: fc.constantFrom(...FIXED_PATHS) },
      {
        weight: 3,
        arbitrary: fc
          .tuple(fc.oneof(fc.constantFrom(...LANES), segmentArb), fc.constantFrom(...RESOURCES))
          .map(([lane, resource]) => `/v1/lanes/${lane}/${resource}`),
      },
      {
        weight: 3,
        arbitrary: fc
          .tuple(
            fc.oneof(fc.constantFrom(...LANES), segmentArb),
            fc.constantFrom('txs', 'accounts'),
            fc.oneof(hexArb, segmentArb),
          )
          .map(([lane, resource, arg]) => `/v1/lanes/${lane}/${resource}/${arg}`),
      },
      {
        weight: 2,
        arbitrary: fc
          .tuple(
            fc.constantFrom('/', '/v1/', '/v1/lanes/', '/v1/lanes/main/'),
            fc.array(segmentArb, { maxLength: 6 }),
          )
          .map(([prefix, segments]) => prefix + segments.join('/')),
      },
    ),
    fc.option(queryArb, { nil: undefined }),
    fc.option(fc.string({ unit: 'grapheme-ascii', maxLength: 8 }).map(targetSafe), { nil: undefined }),
  )
  .map(
    ([path, query, fragment]) =>
      path + (query === undefined ? '' : `?${query}`) + (fragment ? `#${fragment}` : ''),
  );

const headerTextArb = fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).map(headerSafe);

const WEBSOCKET_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** Headers that change how the request is framed, decoded, authorised or upgraded. */
const headersArb: fc.Arbitrary<Record<string, string>> = fc
  .tuple(
    fc.record(
      {
        'content-type': fc.oneof(
          fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', ''),
          fc.constantFrom('application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '*/*'),
          headerTextArb,
        ),
        'content-encoding': fc.constantFrom(
          'gzip',
          'deflate',
          'br',
          'x-garbage',
          'gzip, deflate',
          'identity',
          '',
        ),
        'accept-encoding': fc.constantFrom('gzip', '*', 'br;q=0', ''),
        authorization: fc.oneof(
          fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'bearer  x y'),
          headerTextArb.map((t) => `Bearer ${t}`),
        ),
        expect: fc.constantFrom('100-continue', '100-Continue', 'foo', '200-ok', ''),
        host: fc.constantFrom('', 'evil.example', '[', 'a:99999', 'replica:0'),
        origin: headerTextArb,
      },
      { requiredKeys: [] },
    ),
    fc.oneof(
      { weight: 4, arbitrary: fc.constant({}) },
      {
        weight: 2,
        arbitrary: fc.record({
          connection: fc.constantFrom('upgrade', 'Upgrade', 'keep-alive, upgrade'),
          upgrade: fc.constantFrom('websocket', 'WebSocket', 'h2c', 'foo', ''),
          'sec-websocket-key': fc.constantFrom(WEBSOCKET_KEY, 'short', ''),
          'sec-websocket-version': fc.constantFrom('13', '8', '99', 'x'),
        }),
      },
      { weight: 1, arbitrary: fc.record({ connection: fc.constantFrom('close', 'keep-alive', 'x') }) },
    ),
    fc.dictionary(fc.stringMatching(/^x-[a-z0-9-]{1,12}$/), headerTextArb, { maxKeys: 2 }),
  )
  .map(([plain, connection, extra]) => ({ ...extra, ...plain, ...connection }));

interface Framing {
  compress: boolean;
  chunkBytes: number | undefined;
  shortBy: number | undefined;
}

/** How the body goes out: as is, compressed, chunked, or with a content-length shorter than the body. */
const framingArb: fc.Arbitrary<Framing> = fc.record({
  compress: fc.boolean(),
  chunkBytes: fc.option(fc.integer({ min: 1, max: 8192 }), { nil: undefined }),
  shortBy: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
});

function compressed(body: Buffer, encoding: string | undefined): Buffer {
  if (encoding === 'gzip') return gzipSync(body);
  if (encoding === 'deflate') return deflateSync(body);
  return body;
}

/** A random request: method, path, headers and body all fuzzed. */
export const httpCaseArb: fc.Arbitrary<HttpCase> = fc
  .tuple(fc.constantFrom(...METHODS), pathArb, headersArb, bodyArb, framingArb)
  .map(([method, path, headers, rawBody, framing]) => requestWith(method, path, headers, rawBody, framing));

/** A submission with a fuzzed body and headers to a lane's txs route. */
export const submitCaseArb: fc.Arbitrary<HttpCase> = fc
  .tuple(fc.constantFrom(...LANES, 'other'), headersArb, bodyArb, framingArb)
  .map(([lane, headers, rawBody, framing]) =>
    requestWith('POST', `/v1/lanes/${lane}/txs`, headers, rawBody, framing),
  );

function requestWith(
  method: string,
  path: string,
  headers: Record<string, string>,
  rawBody: Buffer | undefined,
  framing: Framing,
): HttpCase {
  const body = rawBody && framing.compress ? compressed(rawBody, headers['content-encoding']) : rawBody;
  const request: HttpCase = { method, path, headers: { ...headers } };
  if (body !== undefined) {
    request.body = body;
    if (framing.chunkBytes !== undefined) {
      // At most ~200 writes, so a huge body is not sent a byte at a time.
      request.chunkBytes = Math.max(framing.chunkBytes, Math.ceil(body.length / 200));
    } else if (framing.shortBy !== undefined) {
      request.headers['content-length'] = String(Math.max(0, body.length - framing.shortBy));
    }
  }
  const chunks = request.chunkBytes === undefined ? '' : `, chunked by ${request.chunkBytes}`;
  return printedAs(
    request,
    `${method} ${path} ${JSON.stringify(request.headers)} body ${preview(body)}${chunks}`,
  );
}
