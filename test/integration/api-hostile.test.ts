import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { json, rawExchange, rawRequest, send, type Answer, type SendOptions } from '../helpers/http.js';
import { TestPostgres, withClient } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';
import { startReplica, type Replica } from '../../src/node/replica.js';
import { replicaConfig } from '../../src/node/config.js';
import { silentLogger } from '../../src/log.js';
import { generateKeyPair, signMessage, type KeyPair } from '../../src/ledger/keys.js';
import { signTx, type Envelope } from '../../src/client/tx.js';
import type { ClusterView } from '../../src/api/context.js';

const LANE = 'main';
const TXS = `/v1/lanes/${LANE}/txs`;

/**
 * Asserts a coded error answer: never a 5xx, the status, the exact shape, and the code.
 * Where more than one answer is correct, `status` and `code` list the correct ones.
 */
function assertCodedError(answer: Answer, status: number | number[], code: string | string[]): void {
  assert.ok(answer.status < 500, `never a 5xx: got ${answer.status} ${answer.text.slice(0, 300)}`);
  const payload = json(answer) as { error?: { code?: unknown; message?: unknown } };
  const statuses = ([] as number[]).concat(status);
  const codes = ([] as string[]).concat(code);
  assert.ok(
    statuses.includes(answer.status),
    `status ${answer.status}, expected ${statuses.join(' or ')}: ${answer.text.slice(0, 300)}`,
  );
  assert.match(String(answer.headers['content-type']), /^application\/json/);
  assert.deepEqual(Object.keys(payload), ['error']);
  assert.deepEqual(Object.keys(payload.error ?? {}).sort(), ['code', 'message']);
  assert.ok(
    codes.includes(payload.error?.code as string),
    `code ${String(payload.error?.code)}, expected ${codes.join(' or ')}`,
  );
  assert.equal(typeof payload.error?.message, 'string');
  assert.ok((payload.error?.message as string).length > 0);
}

function envelopeJson(envelope: Envelope | Record<string, unknown>): string {
  return JSON.stringify(envelope);
}

/** A body text for `key` with fields replaced; `raw` fields are spliced in as JSON text. */
function bodyText(
  key: KeyPair,
  fields: Record<string, unknown> = {},
  raw: Record<string, string> = {},
): string {
  const value: Record<string, unknown> = {
    lane: LANE,
    from: key.publicKey,
    kind: 'faucet',
    args: { amount: 5 },
    nonce: `hostile-${Math.random().toString(36).slice(2)}`,
    ...fields,
  };
  const parts = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${raw[k] ?? JSON.stringify(v)}`);
  return `{${parts.join(',')}}`;
}

function signedEnvelope(body: string, key: KeyPair, signingKey: KeyPair = key): Envelope {
  return { body, signer: key.publicKey, signature: signMessage(signingKey.secretKey, body) };
}

describe('API under hostile input (real PostgreSQL, in-process replica)', () => {
  let pg: TestPostgres | undefined;
  let replica: Replica | undefined;
  let databaseUrl = '';
  let baseUrl = '';
  // One kept-alive socket, so "the connection survives" is tested, not only "the server".
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const alice = generateKeyPair();
  const bob = generateKeyPair();
  let faucetId = '';
  let faucetEnvelope: Envelope | undefined;
  const FAUCET_AMOUNT = 100;
  let stateBefore: Array<{ key: string; value: unknown }> = [];

  const get = (path: string) => send(baseUrl, 'GET', path, { agent });
  const post = (path: string, body: string | Buffer, extra: Omit<SendOptions, 'body'> = {}) =>
    send(baseUrl, 'POST', path, { agent, ...extra, body });

  async function waitCommitted(id: string) {
    return waitUntil(
      async () => {
        const answer = await get(`${TXS}/${id}`);
        if (answer.status !== 200) return undefined;
        const status = json(answer) as { status: string; ok?: boolean; error?: string; height?: number };
        return status.status === 'committed' ? status : undefined;
      },
      { timeoutMs: 15_000, message: `tx ${id} committed` },
    );
  }

  async function balanceOf(account: string): Promise<number> {
    const answer = await get(`/v1/lanes/${LANE}/accounts/${account}`);
    assert.equal(answer.status, 200, answer.text);
    return (json(answer) as { balance: number }).balance;
  }

  async function stateRows() {
    return withClient(databaseUrl, async (c) => {
      const { rows } = await c.query<{ key: string; value: unknown }>(
        'SELECT key, value FROM baton_state WHERE lane = $1 ORDER BY key',
        [LANE],
      );
      return rows;
    });
  }

  before(async () => {
    pg = await TestPostgres.start();
    databaseUrl = await pg.database();
    replica = await startReplica(replicaConfig({ id: 'h1', databaseUrl, logger: silentLogger, port: 0 }));
    baseUrl = replica.url;
    await waitUntil(async () => (await get('/readyz')).status === 200, {
      timeoutMs: 20_000,
      message: 'replica ready',
    });
    await waitUntil(
      async () => {
        const answer = await get('/v1/cluster');
        if (answer.status !== 200) return false;
        return (json(answer) as ClusterView).lanes[0]?.leader === 'h1';
      },
      { timeoutMs: 20_000, message: 'h1 leads lane main' },
    );
    const signed = await signTx(
      LANE,
      { kind: 'faucet', args: { amount: FAUCET_AMOUNT }, nonce: 'first' },
      alice,
    );
    faucetId = signed.id;
    faucetEnvelope = signed.envelope;
    const answer = await post(TXS, envelopeJson(signed.envelope));
    assert.equal(answer.status, 202, answer.text);
    assert.deepEqual(json(answer), { id: faucetId, status: 'pending' });
    const status = await waitCommitted(faucetId);
    assert.equal(status.ok, true);
    stateBefore = await stateRows();
  });

  after(async () => {
    agent.destroy();
    try {
      await replica?.stop();
    } finally {
      await pg?.stop();
    }
  });

  describe('hostile inputs are refused with a coded 4xx and the connection survives', () => {
    interface Case {
      name: string;
      status: number | number[];
      code: string | string[];
      request: () => Promise<Answer>;
    }

    const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
    const handshake = (method: string, headers: Record<string, string>) =>
      send(baseUrl, method, `/v1/lanes/${LANE}/stream`, {
        headers: { connection: 'upgrade', upgrade: 'websocket', ...headers },
      });
    const deep = (levels: number, closed: boolean) => '['.repeat(levels) + (closed ? ']'.repeat(levels) : '');
    const sig0 = '0'.repeat(128);

    const cases: Case[] = [
      // The HTTP body itself.
      { name: 'malformed JSON', status: 400, code: 'bad_json', request: () => post(TXS, '{"body": ') },
      { name: 'an empty body', status: 400, code: 'bad_json', request: () => post(TXS, '') },
      {
        name: 'no body at all',
        status: 400,
        code: 'bad_json',
        request: () => send(baseUrl, 'POST', TXS, { agent }),
      },
      { name: 'a JSON array', status: 400, code: 'bad_envelope', request: () => post(TXS, '[]') },
      { name: 'a JSON number', status: 400, code: 'bad_envelope', request: () => post(TXS, '42') },
      { name: 'a JSON string', status: 400, code: 'bad_envelope', request: () => post(TXS, '"hello"') },
      { name: 'JSON null', status: 400, code: 'bad_envelope', request: () => post(TXS, 'null') },
      { name: 'JSON true', status: 400, code: 'bad_envelope', request: () => post(TXS, 'true') },
      {
        name: 'invalid UTF-8 bytes',
        status: 400,
        code: 'bad_json',
        request: () => post(TXS, Buffer.from([0xff, 0xfe, 0x7b, 0x80])),
      },
      {
        name: 'a raw NUL byte in the HTTP body outside strings',
        status: 400,
        code: 'bad_json',
        request: () => post(TXS, '{\u0000}'),
      },
      {
        name: '30000 unclosed levels of [ as the HTTP body',
        status: 400,
        code: 'bad_json',
        request: () => post(TXS, deep(30_000, false)),
      },
      {
        name: '30000 closed levels of [ as the HTTP body',
        status: 400,
        code: 'bad_envelope',
        request: () => post(TXS, deep(30_000, true)),
      },
      {
        name: '30000 levels of { as the HTTP body',
        status: 400,
        code: 'bad_envelope',
        request: () => post(TXS, '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)),
      },
      {
        name: '100000 levels of [ as the HTTP body (over the request limit)',
        status: 413,
        code: 'body_too_large',
        request: () => post(TXS, deep(100_000, true)),
      },
      {
        name: 'a 10 MB HTTP body with content-length',
        status: 413,
        code: 'body_too_large',
        request: () => post(TXS, Buffer.alloc(10 * 1024 * 1024, 0x20)),
      },
      {
        name: 'a 10 MB chunked HTTP body (no content-length)',
        status: 413,
        code: 'body_too_large',
        request: () => post(TXS, Buffer.alloc(10 * 1024 * 1024, 0x20), { chunkBytes: 16 * 1024 }),
      },
      // The envelope.
      {
        name: 'an envelope with an extra field',
        status: 400,
        code: 'bad_envelope',
        request: () => post(TXS, envelopeJson({ ...signedEnvelope(bodyText(alice), alice), extra: 1 })),
      },
      {
        name: 'an envelope with a __proto__ field',
        status: 400,
        code: 'bad_envelope',
        request: () => {
          const e = signedEnvelope(bodyText(alice), alice);
          return post(
            TXS,
            `{"body":${JSON.stringify(e.body)},"signer":"${e.signer}","__proto__":{"signature":"${e.signature}"}}`,
          );
        },
      },
      {
        name: 'a deeply nested signer',
        status: 400,
        code: 'bad_envelope',
        request: () => post(TXS, `{"body":"{}","signer":${deep(20_000, true)},"signature":"${sig0}"}`),
      },
      {
        name: 'a non-hex signer',
        status: 400,
        code: 'bad_envelope',
        request: () =>
          post(TXS, envelopeJson({ ...signedEnvelope(bodyText(alice), alice), signer: 'zz'.repeat(32) })),
      },
      {
        name: 'a short signature',
        status: 400,
        code: 'bad_envelope',
        request: () =>
          post(TXS, envelopeJson({ ...signedEnvelope(bodyText(alice), alice), signature: 'ab' })),
      },
      // The transaction body.
      {
        name: '100000 levels of [ inside the body string',
        status: 413,
        code: 'body_too_large',
        request: () =>
          post(TXS, envelopeJson({ body: deep(100_000, true), signer: alice.publicKey, signature: sig0 })),
      },
      {
        name: '20000 levels of [ inside the body string (within the request limit)',
        status: 413,
        code: 'body_too_large',
        request: () =>
          post(TXS, envelopeJson({ body: deep(20_000, true), signer: alice.publicKey, signature: sig0 })),
      },
      {
        name: '2000 levels of [ inside the body string (within the body limit)',
        status: 400,
        code: 'bad_tx',
        request: () =>
          post(TXS, envelopeJson({ body: deep(2_000, true), signer: alice.publicKey, signature: sig0 })),
      },
      {
        name: '1000 levels of [ inside args',
        status: 400,
        code: 'bad_args',
        request: () =>
          post(
            TXS,
            envelopeJson(
              signedEnvelope(bodyText(alice, {}, { args: `{"amount":${deep(1_000, true)}}` }), alice),
            ),
          ),
      },
      {
        name: 'a transaction body over 4096 bytes',
        status: 413,
        code: 'body_too_large',
        request: () => post(TXS, envelopeJson(signedEnvelope(bodyText(alice) + ' '.repeat(4096), alice))),
      },
      {
        name: 'a body that is not JSON',
        status: 400,
        code: 'bad_tx',
        request: () => post(TXS, envelopeJson(signedEnvelope('not json', alice))),
      },
      {
        name: 'a body that is a JSON array',
        status: 400,
        code: 'bad_tx',
        request: () => post(TXS, envelopeJson(signedEnvelope('[1,2]', alice))),
      },
      {
        name: 'a NUL character in the body',
        status: 400,
        code: 'bad_tx',
        request: () => post(TXS, envelopeJson(signedEnvelope(bodyText(alice) + '\u0000', alice))),
      },
      {
        name: 'a nonce that is an object',
        status: 400,
        code: 'bad_tx',
        request: () => post(TXS, envelopeJson(signedEnvelope(bodyText(alice, { nonce: { n: 1 } }), alice))),
      },
      {
        name: 'a body with an extra field',
        status: 400,
        code: 'bad_tx',
        request: () => post(TXS, envelopeJson(signedEnvelope(bodyText(alice, { memo: 'x' }), alice))),
      },
      {
        name: 'a bad signature (all zero)',
        status: 400,
        code: 'bad_signature',
        request: () =>
          post(TXS, envelopeJson({ ...signedEnvelope(bodyText(alice), alice), signature: sig0 })),
      },
      {
        name: 'a tampered body',
        status: 400,
        code: 'bad_signature',
        request: () => {
          const e = signedEnvelope(bodyText(alice, { args: { amount: 5 } }), alice);
          return post(TXS, envelopeJson({ ...e, body: e.body.replace('"amount":5', '"amount":500') }));
        },
      },
      {
        name: 'a signature by another key',
        status: 400,
        code: 'bad_signature',
        request: () => post(TXS, envelopeJson(signedEnvelope(bodyText(alice), alice, bob))),
      },
      {
        name: 'a signature with one flipped bit',
        status: 400,
        code: 'bad_signature',
        request: () => {
          const e = signedEnvelope(bodyText(alice), alice);
          const sig = Buffer.from(e.signature, 'hex');
          sig[10]! ^= 0x04;
          return post(TXS, envelopeJson({ ...e, signature: sig.toString('hex') }));
        },
      },
      {
        name: 'a body signed as UTF-8 but sent as invalid UTF-8',
        status: 400,
        code: 'bad_signature',
        request: () => {
          const e = signedEnvelope(bodyText(alice, { nonce: 'caf\u00e9' }), alice);
          const wire = Buffer.from(envelopeJson(e), 'latin1'); // é becomes the lone byte 0xe9
          return post(TXS, wire);
        },
      },
      {
        name: 'a body naming another lane than the URL',
        status: 400,
        code: 'wrong_lane',
        request: () => post(TXS, envelopeJson(signedEnvelope(bodyText(alice, { lane: 'other' }), alice))),
      },
      {
        name: 'a valid body posted to an unknown lane',
        status: 404,
        code: 'unknown_lane',
        request: () => post('/v1/lanes/other/txs', envelopeJson(signedEnvelope(bodyText(alice), alice))),
      },
      {
        name: 'an invalid lane name in the URL',
        status: 404,
        code: 'unknown_lane',
        request: () => post('/v1/lanes/MAIN/txs', envelopeJson(signedEnvelope(bodyText(alice), alice))),
      },
      {
        name: 'a percent-encoded NUL as the lane',
        status: 404,
        code: 'unknown_lane',
        request: () => post('/v1/lanes/%00/txs', envelopeJson(signedEnvelope(bodyText(alice), alice))),
      },
      {
        name: 'from different from the signer',
        status: 400,
        code: 'signer_mismatch',
        request: () =>
          post(TXS, envelopeJson(signedEnvelope(bodyText(alice, { from: bob.publicKey }), alice))),
      },
      ...(
        [
          ['0', '0'],
          ['1001', '1001'],
          ['-1', '-1'],
          ['1.5', '1.5'],
          ['1e308', '1e308'],
          ['"10"', '"10"'],
          ['null', 'null'],
        ] as const
      ).map(([label, amount]): Case => ({
        name: `faucet amount ${label}`,
        status: 400,
        code: 'bad_args',
        request: () =>
          post(
            TXS,
            envelopeJson(signedEnvelope(bodyText(alice, {}, { args: `{"amount":${amount}}` }), alice)),
          ),
      })),
      {
        name: 'an unknown kind',
        status: 400,
        code: 'unknown_kind',
        request: () => post(TXS, envelopeJson(signedEnvelope(bodyText(alice, { kind: 'mint' }), alice))),
      },
      {
        name: 'a kind named __proto__',
        status: 400,
        code: 'unknown_kind',
        request: () => post(TXS, envelopeJson(signedEnvelope(bodyText(alice, { kind: '__proto__' }), alice))),
      },
      {
        name: 'a transfer to a non-hex account',
        status: 400,
        code: 'bad_args',
        request: () =>
          post(
            TXS,
            envelopeJson(
              signedEnvelope(
                bodyText(alice, { kind: 'transfer', args: { to: 'not-hex', amount: 1 } }),
                alice,
              ),
            ),
          ),
      },
      // The URL.
      {
        name: 'invalid percent-encoding in the lane of a POST',
        status: 400,
        code: 'bad_request',
        request: () => post('/v1/lanes/%E0%A4%A/txs', envelopeJson(signedEnvelope(bodyText(alice), alice))),
      },
      {
        name: 'invalid percent-encoding in the lane of a GET',
        status: 400,
        code: 'bad_request',
        request: () => get('/v1/lanes/%E0%A4%A/blocks'),
      },
      {
        name: 'a lone percent sign in the lane',
        status: 400,
        code: 'bad_request',
        request: () => get('/v1/lanes/%/blocks'),
      },
      // Request targets that are not valid URLs once resolved (absolute-form, or "//" + a bad authority):
      // refused as a bad request, or (if the server treats the whole target as a path) not found.
      ...[
        '//[/livez',
        'http://[/livez',
        'http://host:99999/livez',
        'http://user@/livez',
        'http://%zz/livez',
      ].map((target): Case => ({
        name: `the request target ${target}`,
        status: [400, 404],
        code: ['bad_request', 'not_found'],
        request: () => rawRequest(baseUrl, `GET ${target} HTTP/1.1`),
      })),
      {
        name: 'invalid percent-encoding sent on a raw socket',
        status: 400,
        code: 'bad_request',
        request: () => rawRequest(baseUrl, 'GET /v1/lanes/%E0%A4%A/blocks HTTP/1.1'),
      },
      // Requests Node answers by itself unless told otherwise, outside the error contract.
      {
        name: 'an Expect header other than 100-continue',
        status: 417,
        code: 'expectation_failed',
        request: () => post(TXS, '{}', { headers: { expect: 'nonsense' } }),
      },
      {
        name: 'an HTTP/1.1 request without a Host header',
        status: 400,
        code: 'bad_request',
        request: () => rawExchange(baseUrl, 'GET /livez HTTP/1.1\r\nconnection: close\r\n\r\n'),
      },
      {
        name: 'CONNECT',
        status: 405,
        code: 'method_not_allowed',
        request: () => rawRequest(baseUrl, 'CONNECT replica:443 HTTP/1.1'),
      },
      {
        name: 'a WebSocket handshake on the stream route without a key',
        status: 400,
        code: 'bad_request',
        request: () => handshake('GET', { 'sec-websocket-version': '13' }),
      },
      {
        name: 'a WebSocket handshake on the stream route with an unknown version',
        status: 400,
        code: 'bad_request',
        request: () => handshake('GET', { 'sec-websocket-key': WS_KEY, 'sec-websocket-version': '99' }),
      },
      {
        name: 'a WebSocket handshake on the stream route by POST',
        status: 405,
        code: 'method_not_allowed',
        request: () => handshake('POST', { 'sec-websocket-key': WS_KEY, 'sec-websocket-version': '13' }),
      },
      {
        name: 'an upgrade to h2c on the stream route',
        status: 400,
        code: 'bad_request',
        request: () => handshake('GET', { upgrade: 'h2c' }),
      },
      { name: 'an unknown route', status: 404, code: 'not_found', request: () => get('/nope') },
      { name: 'an unknown v1 route', status: 404, code: 'not_found', request: () => get('/v1/nope') },
      {
        name: 'an unknown lane resource',
        status: 404,
        code: 'not_found',
        request: () => get(`/v1/lanes/${LANE}/nope`),
      },
      { name: 'the root', status: 404, code: 'not_found', request: () => get('/') },
      { name: 'GET on the submit route', status: 405, code: 'method_not_allowed', request: () => get(TXS) },
      {
        name: 'PUT on the submit route',
        status: 405,
        code: 'method_not_allowed',
        request: () => send(baseUrl, 'PUT', TXS, { agent, body: '{}' }),
      },
      {
        name: 'DELETE /livez',
        status: 405,
        code: 'method_not_allowed',
        request: () => send(baseUrl, 'DELETE', '/livez', { agent }),
      },
      {
        name: 'POST on the blocks route',
        status: 405,
        code: 'method_not_allowed',
        request: () => post(`/v1/lanes/${LANE}/blocks`, '{}'),
      },
      {
        name: 'a tx status with a non-hex id',
        status: 400,
        code: 'bad_request',
        request: () => get(`${TXS}/not-a-hex-id`),
      },
      {
        name: 'a tx status with a percent-encoded id',
        status: 400,
        code: 'bad_request',
        request: () => get(`${TXS}/%41${'a'.repeat(61)}`),
      },
      {
        name: 'a tx status for an unknown id',
        status: 404,
        code: 'not_found',
        request: () => get(`${TXS}/${'e'.repeat(64)}`),
      },
      ...[
        'from=abc',
        'limit=100000',
        'from=0',
        'from=-1',
        'limit=0',
        'from=1e3',
        'from=1.5',
        'from=99999999999999999',
        'from=9999999999999999',
      ].map((query): Case => ({
        name: `blocks?${query}`,
        status: 400,
        code: 'bad_request',
        request: () => get(`/v1/lanes/${LANE}/blocks?${query}`),
      })),
      {
        name: 'blocks of an unknown lane',
        status: 404,
        code: 'unknown_lane',
        request: () => get('/v1/lanes/other/blocks'),
      },
      {
        name: 'an account that is not hex',
        status: 400,
        code: 'bad_request',
        request: () => get(`/v1/lanes/${LANE}/accounts/not-hex`),
      },
      {
        name: 'an account that is too short',
        status: 400,
        code: 'bad_request',
        request: () => get(`/v1/lanes/${LANE}/accounts/${'a'.repeat(63)}`),
      },
    ];

    for (const c of cases) {
      it(`${c.name} → ${String(c.status)} ${String(c.code)}`, async () => {
        const answer = await c.request();
        assertCodedError(answer, c.status, c.code);
        const livez = await get('/livez');
        assert.equal(livez.status, 200, 'the replica still answers afterwards');
      });
    }

    it('a request line that is not HTTP is refused with 400 and the replica survives', async () => {
      for (const line of ['GARBAGE', 'GET / HTTP/9.9', 'GET a b c HTTP/1.1', '\u0000\u0001\u0002']) {
        const answer = await rawRequest(baseUrl, line);
        assert.equal(answer.status, 400, `${JSON.stringify(line)}: ${answer.status} ${answer.text}`);
        assert.equal((await get('/livez')).status, 200);
      }
    });

    it('the connection used for refused requests stays usable (keep-alive, 400 then 200)', async () => {
      const oneSocket = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const sockets = new Set<unknown>();
        oneSocket.on('free', (socket) => sockets.add(socket));
        const bad = await send(baseUrl, 'POST', TXS, { agent: oneSocket, body: 'not json' });
        assertCodedError(bad, 400, 'bad_json');
        const ok = await send(baseUrl, 'GET', '/livez', { agent: oneSocket });
        assert.equal(ok.status, 200);
        assert.equal(sockets.size, 1, 'both requests used the same socket');
      } finally {
        oneSocket.destroy();
      }
    });
  });

  describe('after the hostile inputs', () => {
    it('nothing changed: still one block, one stored transaction, the same state', async () => {
      const answer = await get(`/v1/lanes/${LANE}/blocks?from=1`);
      assert.equal(answer.status, 200);
      const { blocks } = json(answer) as { blocks: Array<{ height: number; txs: string[] }> };
      assert.equal(blocks.length, 1);
      assert.equal(blocks[0]!.height, 1);
      assert.deepEqual(blocks[0]!.txs, [faucetId]);
      const count = await withClient(databaseUrl, (c) =>
        c.query<{ n: string }>('SELECT count(*) AS n FROM baton_txs'),
      );
      assert.equal(Number(count.rows[0]!.n), 1);
      assert.deepEqual(await stateRows(), stateBefore);
      assert.equal(await balanceOf(alice.publicKey), FAUCET_AMOUNT);
    });

    it('a duplicate submission of the committed tx answers 200 committed with the same id', async () => {
      const answer = await post(TXS, envelopeJson(faucetEnvelope!));
      assert.equal(answer.status, 200, answer.text);
      const status = json(answer) as { id: string; status: string; height: number; ok: boolean };
      assert.equal(status.id, faucetId);
      assert.equal(status.status, 'committed');
      assert.equal(status.height, 1);
      assert.equal(status.ok, true);
      assert.equal(await balanceOf(alice.publicKey), FAUCET_AMOUNT, 'not applied twice');
    });

    it('a duplicate submitted with an uppercase signer and signature is recognised too', async () => {
      const e = faucetEnvelope!;
      const answer = await post(
        TXS,
        envelopeJson({ body: e.body, signer: e.signer.toUpperCase(), signature: e.signature.toUpperCase() }),
      );
      assert.equal(answer.status, 200, answer.text);
      assert.equal((json(answer) as { id: string }).id, faucetId);
      const count = await withClient(databaseUrl, (c) =>
        c.query<{ n: string }>('SELECT count(*) AS n FROM baton_txs'),
      );
      assert.equal(Number(count.rows[0]!.n), 1);
    });

    it('a transfer exceeding the balance is accepted, then committed with ok:false insufficient_funds', async () => {
      const before = await stateRows();
      const { id, envelope } = await signTx(
        LANE,
        { kind: 'transfer', args: { to: bob.publicKey, amount: FAUCET_AMOUNT + 1 } },
        alice,
      );
      const answer = await post(TXS, envelopeJson(envelope));
      assert.equal(answer.status, 202, answer.text);
      assert.deepEqual(json(answer), { id, status: 'pending' });
      const status = await waitCommitted(id);
      assert.equal(status.ok, false);
      assert.equal(status.error, 'insufficient_funds');
      assert.deepEqual(await stateRows(), before, 'no balance changed');
      assert.equal(await balanceOf(alice.publicKey), FAUCET_AMOUNT);
      assert.equal(await balanceOf(bob.publicKey), 0);
    });

    it('a transfer that fits moves funds, and total supply equals the committed faucet amounts', async () => {
      const faucet = await signTx(LANE, { kind: 'faucet', args: { amount: 1000 } }, bob);
      const transfer = await signTx(
        LANE,
        { kind: 'transfer', args: { to: bob.publicKey, amount: 30 } },
        alice,
      );
      for (const s of [faucet, transfer]) {
        const answer = await post(TXS, envelopeJson(s.envelope));
        assert.equal(answer.status, 202, answer.text);
      }
      assert.equal((await waitCommitted(faucet.id)).ok, true);
      assert.equal((await waitCommitted(transfer.id)).ok, true);
      assert.equal(await balanceOf(alice.publicKey), FAUCET_AMOUNT - 30);
      assert.equal(await balanceOf(bob.publicKey), 1000 + 30);

      const rows = await stateRows();
      const balances = rows.filter((r) => r.key.startsWith('balance:')).map((r) => r.value as number);
      const supply = rows.find((r) => r.key === 'supply')?.value;
      const committedFaucets = await withClient(databaseUrl, async (c) => {
        const { rows: txs } = await c.query<{ body: string }>(
          'SELECT body FROM baton_txs WHERE lane = $1 AND height IS NOT NULL AND ok',
          [LANE],
        );
        return txs
          .map((t) => JSON.parse(t.body) as { kind: string; args: { amount: number } })
          .filter((b) => b.kind === 'faucet')
          .reduce((sum, b) => sum + b.args.amount, 0);
      });
      assert.equal(committedFaucets, FAUCET_AMOUNT + 1000);
      assert.equal(
        balances.reduce((a, b) => a + b, 0),
        committedFaucets,
      );
      assert.equal(supply, committedFaucets);
    });

    it('the chain is intact: heights 1..n, each parentHash the hash below', async () => {
      const answer = await get(`/v1/lanes/${LANE}/blocks?from=1&limit=1000`);
      const { blocks } = json(answer) as {
        blocks: Array<{ height: number; hash: string; parentHash: string }>;
      };
      assert.ok(blocks.length >= 2);
      blocks.forEach((b, i) => {
        assert.equal(b.height, i + 1);
        assert.equal(b.parentHash, i === 0 ? '0'.repeat(64) : blocks[i - 1]!.hash);
      });
    });
  });
});
