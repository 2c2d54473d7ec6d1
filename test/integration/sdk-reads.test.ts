// The SDK's lane reads (lane, state, query, versions) and upgrade approvals against real
// replicas on a real PostgreSQL, and the stand-alone closure of the SDK's published files.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  APPROVE_KIND,
  BatonError,
  STREAM_CLOSE,
  createClient,
  generateKeyPair,
  type BatonClient,
  type Block,
  type ClusterView,
  type JsonValue,
  type KeyPair,
  type LaneInfo,
  type StreamCloseCodes,
  type StreamMessage,
  type TxStatus,
  type VersionSpan,
} from '../../src/client/index.js';
import { usePostgresPerFile } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';
import { startReplica, type Replica } from '../../src/node/replica.js';
import { replicaConfig, type ReplicaConfig } from '../../src/node/config.js';
import { silentLogger } from '../../src/log.js';
import { tokenApp } from '../../src/apps/token.js';
import type { App, JsonValue as ServerJsonValue } from '../../src/apps/app.js';
import { APPROVE_KIND as SERVER_APPROVE_KIND } from '../../src/ledger/upgrades.js';
import {
  STREAM_CLOSE as SERVER_STREAM_CLOSE,
  type StreamMessage as ServerStreamMessage,
} from '../../src/stream-codes.js';
import type { Block as ServerBlock } from '../../src/ledger/block.js';
import type { TxStatus as ServerTxStatus, VersionSpan as ServerVersionSpan } from '../../src/ledger/store.js';
import type { ClusterView as ServerClusterView, LaneDetail } from '../../src/api/context.js';

// ---------------------------------------------------------------------------------------------
// The SDK's own wire types must describe exactly what the server sends. Checked by the compiler
// (`tsc -p tsconfig.json` covers test/): a field added, removed or retyped on either side fails it.

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const WIRE_TYPES_MATCH: [
  Same<Block, ServerBlock>,
  Same<TxStatus, ServerTxStatus>,
  Same<ClusterView, ServerClusterView>,
  Same<LaneInfo, LaneDetail>,
  Same<VersionSpan, ServerVersionSpan>,
  Same<JsonValue, ServerJsonValue>,
  Same<StreamMessage, ServerStreamMessage>,
  Same<StreamCloseCodes, typeof SERVER_STREAM_CLOSE>,
] = [true, true, true, true, true, true, true, true];

// ---------------------------------------------------------------------------------------------
// The closure of the SDK's published files, following relative imports transitively.

const DIST_SRC = fileURLToPath(new URL('../../dist/src/', import.meta.url));
const CLIENT_DIR = join(DIST_SRC, 'client');
/** Server directories whose files the SDK must never reach. */
const SERVER_DIRS = ['api', 'ledger', 'node', 'db', 'coordination'];
const NODE_BUILTINS = new Set(builtinModules);

interface Reference {
  spec: string;
  kind: 'module' | 'path' | 'types';
}

/** Every module a declaration or JavaScript file refers to: imports, re-exports, import() types, references. */
function references(text: string): Reference[] {
  const found: Reference[] = [];
  const patterns: Array<[RegExp, Reference['kind']]> = [
    // import … from / export … from, up to the first quote (so a string that says "from" is no import)
    [/^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm, 'module'],
    [/^\s*import\s*['"]([^'"]+)['"]/gm, 'module'],
    [/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, 'module'],
    [/\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g, 'module'],
    [/^\s*\/\/\/\s*<reference\s+path\s*=\s*['"]([^'"]+)['"]/gm, 'path'],
    [/^\s*\/\/\/\s*<reference\s+types\s*=\s*['"]([^'"]+)['"]/gm, 'types'],
  ];
  for (const [pattern, kind] of patterns)
    for (const match of text.matchAll(pattern)) found.push({ spec: match[1]!, kind });
  return found;
}

/** The file a relative specifier names: `x.js` → `x.d.ts` for declarations. */
function resolveRelative(from: string, spec: string, declarations: boolean): string | null {
  const base = resolve(dirname(from), spec);
  const candidates = declarations
    ? [
        base.replace(/\.js$/, '.d.ts'),
        base.replace(/\.mjs$/, '.d.mts'),
        `${base}.d.ts`,
        join(base, 'index.d.ts'),
      ]
    : [base, `${base}.js`, join(base, 'index.js')];
  return (
    candidates.find((c) => c !== from && existsSync(c) && c.endsWith(declarations ? 'ts' : 'js')) ?? null
  );
}

/** Walks the closure of the client's `*.d.ts` (or `*.js`) files; returns its files and what is wrong. */
function closure(declarations: boolean): { files: string[]; problems: string[] } {
  const suffix = declarations ? '.d.ts' : '.js';
  const roots = readdirSync(CLIENT_DIR)
    .filter((f) => f.endsWith(suffix))
    .map((f) => join(CLIENT_DIR, f));
  const seen = new Set<string>();
  const problems: string[] = [];
  const queue = [...roots];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const name = relative(DIST_SRC, file);
    const top = name.split(/[\\/]/)[0]!;
    if (SERVER_DIRS.includes(top)) problems.push(`${name}: a server module in the SDK's closure`);
    else if (top !== 'client' && name !== `errors${suffix}` && name !== `stream-codes${suffix}`)
      problems.push(`${name}: outside the SDK (client/, errors, stream-codes)`);
    for (const ref of references(readFileSync(file, 'utf8'))) {
      if (ref.kind === 'path' || ref.spec.startsWith('.')) {
        const target = resolveRelative(file, ref.spec, declarations);
        if (target === null) problems.push(`${name}: cannot resolve "${ref.spec}"`);
        else queue.push(target);
        continue;
      }
      const bare = ref.spec.replace(/^node:/, '');
      const what =
        ref.spec.startsWith('node:') || NODE_BUILTINS.has(bare.split('/')[0]!)
          ? 'a Node built-in'
          : bare === 'pg' || bare.startsWith('pg/') || bare.startsWith('pg-')
            ? 'the PostgreSQL driver'
            : 'a package';
      problems.push(`${name}: refers to ${what} "${ref.spec}"${ref.kind === 'types' ? ' (types)' : ''}`);
    }
  }
  return { files: [...seen].map((f) => relative(DIST_SRC, f)).sort(), problems };
}

describe('the SDK stands alone (reads dist/ as `npm run build` left it)', () => {
  before(() => {
    assert.ok(
      existsSync(join(CLIENT_DIR, 'index.d.ts')),
      'dist/src/client/index.d.ts exists: run `npm run build`',
    );
  });

  it('finds every kind of module reference', () => {
    const sample = [
      '/// <reference types="node" />',
      '/// <reference path="./a.d.ts" />',
      "import type { X } from '../ledger/block.js';",
      "export { Y } from './y.js';",
      "export * from 'pg';",
      "import 'node:http';",
      "type Z = { block: import('./ledger/store.js').Block };",
      "const ws = require('ws');",
      'export {',
      '  A,',
      "  B } from './multi-line.js';",
      'const message = \'the "from" field\'; // not an import',
    ].join('\n');
    assert.deepEqual(
      references(sample)
        .map((r) => r.spec)
        .sort(),
      [
        '../ledger/block.js',
        './a.d.ts',
        './ledger/store.js',
        './multi-line.js',
        './y.js',
        'node',
        'node:http',
        'pg',
        'ws',
      ],
    );
  });

  it('the declarations (dist/src/client/*.d.ts) reach no server module, no pg, no Node built-in', () => {
    const { files, problems } = closure(true);
    assert.deepEqual(problems, [], `declaration closure:\n${files.join('\n')}`);
    for (const f of ['client/index.d.ts', 'client/types.d.ts', 'errors.d.ts'])
      assert.ok(files.includes(f), `${f} is in the closure (${files.join(', ')})`);
  });

  it('the JavaScript (dist/src/client/*.js) imports nothing beyond the SDK either', () => {
    const { files, problems } = closure(false);
    assert.deepEqual(problems, [], `JavaScript closure:\n${files.join('\n')}`);
  });

  it('its copies of the shared constants and wire types agree with the server', () => {
    assert.deepEqual(WIRE_TYPES_MATCH, [true, true, true, true, true, true, true, true]);
    assert.deepEqual(STREAM_CLOSE, SERVER_STREAM_CLOSE);
    assert.equal(APPROVE_KIND, SERVER_APPROVE_KIND);
  });
});

// ---------------------------------------------------------------------------------------------
// Real replicas.

const ADMIN_TOKEN = 'sdk-reads-admin-token';
const file = usePostgresPerFile();

/** Token 2.0.0: a faucet reports what it credited, and a query only this version has. */
const tokenV2: App = {
  ...tokenApp,
  version: '2.0.0',
  apply(state, tx) {
    const outcome = tokenApp.apply(state, tx);
    if (!outcome.ok || tx.kind !== 'faucet') return outcome;
    return { ok: true, result: { credited: (tx.args as { amount: number }).amount } };
  },
  queries: { ...tokenApp.queries, version: () => '2.0.0' },
};

async function replica(config: Pick<ReplicaConfig, 'id' | 'databaseUrl'> & Partial<ReplicaConfig>) {
  const r = await startReplica(
    replicaConfig({ logger: silentLogger, port: 0, drainGraceMs: 50, drainTimeoutMs: 2_000, ...config }),
  );
  file.cleanups.push(() => r.stop());
  return r;
}

function client(endpoints: string[], attempts = 10): BatonClient {
  return createClient({ endpoints, attempts, backoffMs: { base: 10, cap: 200 } });
}

async function waitReady(url: string): Promise<void> {
  await waitUntil(async () => (await fetch(`${url}/readyz`)).status === 200, {
    timeoutMs: 20_000,
    message: `${url} ready`,
  });
}

/** Resolves once `promise` rejects with a BatonError of `code`. */
async function rejectsWith(promise: Promise<unknown>, code: string, status?: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof BatonError, `a BatonError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (status !== undefined) assert.equal(error.status, status);
    return true;
  });
}

/** Submits a faucet tx with the SDK and waits (with a deadline) until it is committed. */
async function faucet(sdk: BatonClient, lane: string, key: KeyPair, amount: number): Promise<TxStatus> {
  const { id } = await sdk.submit(lane, { kind: 'faucet', args: { amount } }, key);
  const status = await sdk.waitForCommit(lane, id, { signal: AbortSignal.timeout(20_000) });
  assert.equal(status.id, id);
  return status;
}

describe('SDK lane reads on two replicas (token 1.0.0)', () => {
  let a1: Replica;
  let a2: Replica;
  let sdk: BatonClient;
  let alice: KeyPair;
  let bob: KeyPair;
  const amounts = { alice: 100, bob: 250 };
  const committed: TxStatus[] = [];

  before(async () => {
    const databaseUrl = await file.server.database();
    a1 = await replica({ id: 'a1', databaseUrl });
    a2 = await replica({ id: 'a2', databaseUrl });
    await Promise.all([waitReady(a1.url), waitReady(a2.url)]);
    sdk = client([a1.url, a2.url]);
    [alice, bob] = await Promise.all([generateKeyPair(), generateKeyPair()]);
    await waitUntil(async () => (await sdk.lane('main')).leader !== null, { message: 'a leader for main' });
  });

  it('lane() describes the lane; cluster() names the elector and the app versions of each replica', async () => {
    const info = await sdk.lane('main');
    assert.deepEqual(Object.keys(info).sort(), [
      'app',
      'height',
      'lane',
      'leader',
      'proposedVersion',
      'term',
      'version',
    ]);
    assert.equal(info.lane, 'main');
    assert.equal(info.app, 'token');
    assert.equal(info.version, '1.0.0');
    assert.equal(info.proposedVersion, null);
    assert.ok(info.leader === 'a1' || info.leader === 'a2', `leader ${info.leader}`);
    assert.ok(info.term >= 1);
    assert.equal(info.height, 0);

    const view = await sdk.cluster();
    assert.equal(view.elector, 'postgres');
    assert.deepEqual(view.replicas.map((r) => r.id).sort(), ['a1', 'a2']);
    for (const r of view.replicas) assert.deepEqual(r.apps, { token: ['1.0.0'] }, r.id);
    assert.deepEqual(
      view.lanes.map((l) => l.lane),
      ['main'],
    );
  });

  it('faucet txs submitted with the SDK commit; the token app returns no result', async () => {
    committed.push(
      ...(await Promise.all([
        faucet(sdk, 'main', alice, amounts.alice),
        faucet(sdk, 'main', bob, amounts.bob),
      ])),
    );
    for (const status of committed) {
      assert.equal(status.status, 'committed');
      assert.equal(status.ok, true);
      assert.ok(status.height! >= 1);
      assert.equal('result' in status, false, `no result: ${JSON.stringify(status)}`);
      assert.equal('result' in (await sdk.status('main', status.id)), false);
    }
  });

  it('state() reads committed entries on every replica at or above their block; absent keys are null', async () => {
    const [a, b] = [alice, bob];
    const highest = Math.max(...committed.map((s) => s.height!));
    for (const url of [a1.url, a2.url]) {
      const one = client([url]);
      for (const [key, amount] of [
        [a, amounts.alice],
        [b, amounts.bob],
      ] as const) {
        const entry = await one.state('main', `balance:${key.publicKey}`);
        assert.deepEqual(Object.keys(entry).sort(), ['height', 'key', 'value']);
        assert.equal(entry.key, `balance:${key.publicKey}`);
        assert.equal(entry.value, amount, url);
        assert.ok(entry.height >= highest, `read at ${entry.height} ≥ ${highest} (${url})`);
      }
      const supply = await one.state('main', 'supply');
      assert.equal(supply.value, amounts.alice + amounts.bob);
    }
    const stranger = await generateKeyPair();
    const absent = await sdk.state('main', `balance:${stranger.publicKey}`);
    assert.equal(absent.value, null);
    assert.equal(absent.key, `balance:${stranger.publicKey}`);
    // Keys travel as one encoded path segment, whatever they hold.
    const odd = [
      'no such/key?x=1&y#frag',
      '100% ünïcödé ☃',
      ' spaced ',
      '%2F',
      '...',
      '__proto__',
      'constructor',
    ];
    for (const key of odd) {
      const entry = await sdk.state('main', key);
      assert.deepEqual({ key: entry.key, value: entry.value }, { key, value: null });
    }
  });

  it('query() runs the app queries; an unknown query is unknown_query, refused args bad_args', async () => {
    const a = alice;
    const balance = await sdk.query('main', 'balance', { account: a.publicKey });
    assert.deepEqual(Object.keys(balance).sort(), ['height', 'result']);
    assert.equal(balance.result, amounts.alice);
    assert.ok(balance.height >= Math.max(...committed.map((s) => s.height!)));
    const upper = await sdk.query<number>('main', 'balance', { account: a.publicKey.toUpperCase() });
    assert.equal(upper.result, amounts.alice);
    const supply = await sdk.query<number>('main', 'supply');
    assert.equal(supply.result, amounts.alice + amounts.bob);
    assert.equal((await sdk.query('main', 'supply', null)).result, amounts.alice + amounts.bob);
    assert.equal(await sdk.balance('main', a.publicKey), amounts.alice, 'balance() still works');
    const nobody = (await generateKeyPair()).publicKey;
    assert.equal((await sdk.query('main', 'balance', { account: nobody })).result, 0);

    await rejectsWith(sdk.query('main', 'no-such-query'), 'unknown_query', 404);
    for (const name of ['no such/query?', 'constructor', '__proto__', 'toString'])
      await rejectsWith(sdk.query('main', name), 'unknown_query', 404);
    await rejectsWith(sdk.query('main', 'balance', { account: 'not hex' }), 'bad_args', 400);
    await rejectsWith(sdk.query('main', 'balance'), 'bad_args', 400);
  });

  it('versions() shows one span of 1.0.0 over every block; blocks carry their version', async () => {
    const tip = (await sdk.lane('main')).height;
    assert.ok(tip >= 1);
    for (const url of [a1.url, a2.url]) {
      assert.deepEqual(await client([url]).versions('main'), {
        lane: 'main',
        app: 'token',
        active: '1.0.0',
        proposed: null,
        versions: [{ version: '1.0.0', firstHeight: 1, lastHeight: tip }],
      });
    }
    const blocks = await sdk.blocksPage('main', 1, 1000);
    assert.equal(blocks.length, tip);
    for (const block of blocks) {
      assert.equal(block.version, '1.0.0');
      assert.equal('upgrade' in block, false);
    }
  });

  it('refusals: unknown lane, keys that are no path segment, approvals on a lane without approvers, aborts', async () => {
    await rejectsWith(sdk.lane('nope'), 'unknown_lane', 404);
    await rejectsWith(sdk.state('nope', 'supply'), 'unknown_lane', 404);
    await rejectsWith(sdk.query('nope', 'supply'), 'unknown_lane', 404);
    await rejectsWith(sdk.versions('nope'), 'unknown_lane', 404);
    for (const key of ['', '.', '..']) {
      await rejectsWith(sdk.state('main', key), 'bad_request');
      await rejectsWith(sdk.query('main', key), 'bad_request');
    }
    await assert.rejects(
      sdk.query('main', 'supply', () => 1),
      TypeError,
    );
    // The main lane has no approvers: it upgrades on the admin's word only.
    await rejectsWith(sdk.approveUpgrade('main', '2.0.0', alice), 'bad_args', 400);

    const aborted = AbortSignal.abort();
    for (const call of [
      sdk.lane('main', { signal: aborted }),
      sdk.state('main', 'supply', { signal: aborted }),
      sdk.query('main', 'supply', undefined, { signal: aborted }),
      sdk.versions('main', { signal: aborted }),
      sdk.approveUpgrade('main', '2.0.0', alice, { signal: aborted }),
    ])
      await assert.rejects(call, { name: 'AbortError' });
  });
});

describe('SDK upgrade approvals: u1 runs token 1.0.0 and 2.0.0, u2 only 1.0.0', () => {
  let u1: Replica;
  let u2: Replica;
  let sdk: BatonClient;
  let approver: KeyPair;
  let stranger: KeyPair;
  let switchHeight = 0;
  const LANE = 'gov';

  async function adminPost(path: string, body: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`${u1.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }

  before(async () => {
    const databaseUrl = await file.server.database();
    u1 = await replica({ id: 'u1', databaseUrl, lanes: [], apps: [tokenV2], adminToken: ADMIN_TOKEN });
    u2 = await replica({ id: 'u2', databaseUrl, lanes: [], adminToken: ADMIN_TOKEN });
    await Promise.all([waitReady(u1.url), waitReady(u2.url)]);
    sdk = client([u1.url, u2.url]);
    [approver, stranger] = await Promise.all([generateKeyPair(), generateKeyPair()]);
  });

  it('a lane created with approvers waits for their quorum; lane() and versions() show the proposal', async () => {
    const created = await adminPost('/v1/admin/lanes', {
      lane: LANE,
      app: 'token',
      version: '1.0.0',
      approvers: [approver.publicKey],
      quorum: 1,
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    for (const url of [u1.url, u2.url])
      await waitUntil(async () => (await client([url], 1).lane(LANE)).leader !== null, {
        message: `${url} serves lane ${LANE} with a leader`,
      });
    await faucet(sdk, LANE, approver, 10);

    // Right after a lane is created its replicas republish their readiness with their next
    // heartbeat; the proposal waits for that instead of being refused.
    const proposal = await adminPost(`/v1/admin/lanes/${LANE}/upgrade`, { to: '2.0.0' });
    assert.equal(proposal.status, 202, JSON.stringify(proposal.json));
    const { status, approvals, quorum, runners } = proposal.json as Record<string, unknown>;
    assert.deepEqual(
      { status, approvals, quorum, runners },
      { status: 'awaiting_approvals', approvals: 0, quorum: 1, runners: ['u1'] },
    );
    for (const url of [u1.url, u2.url]) {
      const one = client([url]);
      await waitUntil(
        async () => {
          const [info, versions] = await Promise.all([one.lane(LANE), one.versions(LANE)]);
          return info.proposedVersion === '2.0.0' && versions.proposed === '2.0.0';
        },
        { message: `${url} shows the proposal` },
      );
      const info = await one.lane(LANE);
      assert.equal(info.version, '1.0.0');
      const versions = await one.versions(LANE);
      assert.equal(versions.active, '1.0.0');
      assert.deepEqual(versions.versions, [{ version: '1.0.0', firstHeight: 1, lastHeight: info.height }]);
    }
    const view = await sdk.cluster();
    const apps = Object.fromEntries(view.replicas.map((r) => [r.id, r.apps]));
    assert.deepEqual(apps, { u1: { token: ['1.0.0', '2.0.0'] }, u2: { token: ['1.0.0'] } });
  });

  it('approveUpgrade(): a stranger’s vote is refused, the approver’s reaches the quorum and the lane switches', async () => {
    const controller = new AbortController();
    const from = (await sdk.lane(LANE)).height;
    // The switch block, seen through the SDK's block stream (no polling).
    const switched = (async (): Promise<Block> => {
      for await (const block of sdk.blocks(LANE, { after: from, signal: controller.signal }))
        if (block.upgrade !== undefined) return block;
      throw new Error('the stream ended before the switch block');
    })();
    void switched.catch(() => undefined); // awaited below; this only keeps an early failure handled
    const deadline = setTimeout(() => controller.abort(new Error('no switch block within 20 s')), 20_000);
    try {
      const refusedId = await sdk.approveUpgrade(LANE, '2.0.0', stranger);
      const refused = await sdk.waitForCommit(LANE, refusedId, { signal: AbortSignal.timeout(20_000) });
      assert.equal(refused.ok, false);
      assert.equal(refused.error, 'not_an_approver');
      assert.equal('result' in refused, false);

      const id = await sdk.approveUpgrade(LANE, '2.0.0', approver);
      assert.match(id, /^[0-9a-f]{64}$/);
      const approved = await sdk.waitForCommit(LANE, id, { signal: AbortSignal.timeout(20_000) });
      assert.equal(approved.ok, true, JSON.stringify(approved));
      assert.deepEqual(approved.result, { version: '2.0.0', approvals: 1, quorum: 1 });
      // The same approval again is the same transaction: recognised, not counted twice.
      assert.equal(await sdk.approveUpgrade(LANE, '2.0.0', approver), id);
      assert.deepEqual(await sdk.status(LANE, id), approved);

      const block = await switched;
      assert.equal(block.upgrade, '2.0.0');
      assert.equal(block.version, '1.0.0', 'the switch block is still produced by 1.0.0');
      assert.ok(block.height >= approved.height!);
      switchHeight = block.height;
    } finally {
      clearTimeout(deadline);
      controller.abort();
      await switched.catch(() => undefined);
    }
    await waitUntil(
      async () => {
        const info = await sdk.lane(LANE);
        return info.version === '2.0.0' && info.proposedVersion === null && info.leader === 'u1';
      },
      { message: 'lane gov runs 2.0.0, led by u1' },
    );
  });

  it('after the switch 2.0.0 serves; u2 answers app_unavailable and the SDK moves on to u1', async () => {
    const status = await faucet(sdk, LANE, approver, 7);
    assert.equal(status.ok, true);
    assert.deepEqual(status.result, { credited: 7 }, 'the 2.0.0 faucet returns a result');
    assert.ok(status.height! > switchHeight);
    const [block] = await sdk.blocksPage(LANE, status.height!, 1);
    assert.equal(block?.version, '2.0.0');

    const tip = (await sdk.lane(LANE)).height;
    // `proposed` once switched: see the next test.
    const { proposed: _proposed, ...versions } = await client([u1.url]).versions(LANE);
    assert.deepEqual(versions, {
      lane: LANE,
      app: 'token',
      active: '2.0.0',
      versions: [
        { version: '1.0.0', firstHeight: 1, lastHeight: switchHeight },
        { version: '2.0.0', firstHeight: switchHeight + 1, lastHeight: tip },
      ],
    });
    assert.deepEqual(await client([u1.url]).query(LANE, 'version'), { result: '2.0.0', height: tip });

    // u2 lacks 2.0.0: alone it can only refuse, with a 503 the SDK retries elsewhere.
    await rejectsWith(client([u2.url], 2).query(LANE, 'version'), 'app_unavailable', 503);
    // With both endpoints, a call that starts on u2 ends on u1. Clients start on a random endpoint,
    // so fresh clients are made until one starts on u2 (each does so with probability 1/2).
    const realFetch = globalThis.fetch;
    const asked: string[] = [];
    globalThis.fetch = (input, init) => {
      asked.push(input instanceof Request ? input.url : String(input));
      return realFetch(input, init);
    };
    try {
      for (let i = 0; i < 64 && !asked[0]?.startsWith(u2.url); i++) {
        asked.length = 0;
        const answer = await client([u2.url, u1.url]).query<string>(LANE, 'version');
        assert.equal(answer.result, '2.0.0');
      }
    } finally {
      globalThis.fetch = realFetch;
    }
    assert.ok(asked[0]?.startsWith(u2.url), `a call started on u2: ${asked.join(', ')}`);
    assert.ok(asked.at(-1)?.startsWith(u1.url), `and ended on u1: ${asked.join(', ')}`);
  });
  it('once switched, versions().proposed is null on every replica, as lane().proposedVersion is', async () => {
    assert.equal((await sdk.lane(LANE)).proposedVersion, null);
    for (const url of [u1.url, u2.url])
      await waitUntil(async () => (await client([url]).versions(LANE)).proposed === null, {
        timeoutMs: 3_000,
        message: `versions() on ${url} shows no proposal once switched`,
      });
  });
});
