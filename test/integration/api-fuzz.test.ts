import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { usePostgresPerFile } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';
import { json, rawExchange, send, type Answer } from '../helpers/http.js';
import { contractViolation, errorCode } from '../helpers/api-answers.js';
import { ledgerSnapshot, type LedgerSnapshot } from '../helpers/ledger-snapshot.js';
import { LANES } from '../helpers/fuzz-values.js';
import { expectedRead, readArb, readShown } from '../helpers/fuzz-reads.js';
import { KEYS } from '../helpers/fuzz-keys.js';
import { httpCaseArb, submitCaseArb } from '../helpers/fuzz-http.js';
import { rawCaseArb } from '../helpers/fuzz-raw.js';
import { signedSpecArb } from '../helpers/fuzz-envelopes.js';
import { buildSigned } from '../helpers/signed-case.js';
import { refusalReason, replayToken, type CommittedTx } from '../helpers/token-model.js';
import { startReplica, type Replica } from '../../src/node/replica.js';
import { replicaConfig } from '../../src/node/config.js';
import { createLogger } from '../../src/log.js';
import { settlesWithin } from '../../src/time.js';
import { signTx } from '../../src/client/tx.js';
import type { ClusterView } from '../../src/api/context.js';

/*
 * Property-based fuzzing of the public HTTP API (invariant 6: bad input gets a clear error and
 * changes nothing) against one real replica on a real PostgreSQL. Each property runs from a
 * fixed seed; on failure fast-check prints the seed, the path and the shrunk counterexample.
 * BATON_FUZZ_SEED picks another seed and BATON_FUZZ_RUNS multiplies the number of runs.
 */
const SEED = Number(process.env.BATON_FUZZ_SEED || 20261122);
const RUNS = Number(process.env.BATON_FUZZ_RUNS || 1);
const options = (offset: number, numRuns: number): fc.Parameters<unknown> => ({
  seed: SEED + offset,
  numRuns: Math.max(1, Math.round(numRuns * RUNS)),
  includeErrorInReport: true,
});

/** A request that failed at the socket is an answer of status 0: "closed without answering". */
async function answerOf(request: Promise<Answer>): Promise<Answer> {
  try {
    return await request;
  } catch (error) {
    return { status: 0, headers: {}, text: `(${error instanceof Error ? error.message : String(error)})` };
  }
}

/** Sends a generated HTTP case to the replica under test. */
function sendCase(
  baseUrl: string,
  c: {
    method: string;
    path: string;
    headers: Record<string, string>;
    body?: Buffer | string;
    chunkBytes?: number;
  },
): Promise<Answer> {
  return answerOf(
    send(baseUrl, c.method, c.path, { headers: c.headers, body: c.body, chunkBytes: c.chunkBytes }),
  );
}

function assertContract(answer: Answer, method: string, what: string): void {
  const violation = contractViolation(answer, method);
  if (violation !== undefined) assert.fail(`${what.slice(0, 300)}: ${violation}`);
}

describe('API fuzzing (fast-check, real PostgreSQL, in-process replica)', () => {
  const file = usePostgresPerFile();
  let baseUrl = '';
  let replica: Replica;
  let db: pg.Client;
  const loggedErrors: string[] = [];

  const get = (path: string) => send(baseUrl, 'GET', path);

  /**
   * After every case: the replica still answers, and logged no error (a 500 can hide behind
   * another answer, e.g. when bytes after a short content-length are refused first).
   */
  async function assertAlive(): Promise<void> {
    assert.equal((await get('/livez')).status, 200, 'the replica still answers /livez');
    assertNoErrorLogged();
  }

  function assertNoErrorLogged(): void {
    assert.deepEqual(loggedErrors.splice(0), [], 'the replica logged no error');
  }

  /** Runs `property` and asserts the ledger is exactly as it was before. */
  async function unchangedBy(property: () => Promise<void>): Promise<void> {
    loggedErrors.length = 0;
    const before = await ledgerSnapshot(db);
    await property();
    // Submissions are answered only once stored, so anything wrongly accepted is already visible.
    assert.deepEqual(await ledgerSnapshot(db), before, 'invalid input changed the ledger');
    assertNoErrorLogged();
  }

  async function waitCommitted(ids: Iterable<string>): Promise<void> {
    const wanted = [...ids];
    await waitUntil(
      async () => {
        const { rows } = await db.query<{ n: string }>(
          'SELECT count(*) AS n FROM baton_txs WHERE id = ANY($1::text[]) AND height IS NOT NULL',
          [wanted],
        );
        return Number(rows[0]!.n) === wanted.length;
      },
      { timeoutMs: 30_000, message: `${wanted.length} accepted transactions committed` },
    );
  }

  before(async () => {
    const databaseUrl = await file.server.database();
    const logger = createLogger({}, { level: 'error', write: (line) => loggedErrors.push(line) });
    replica = await startReplica(
      replicaConfig({
        id: 'fz1',
        databaseUrl,
        logger,
        port: 0,
        lanes: [...LANES],
        drainGraceMs: 0,
        drainTimeoutMs: 2_000,
        // Enabled, so fuzzed Authorization headers meet a real token they cannot guess.
        adminToken: randomBytes(32).toString('hex'),
      }),
    );
    file.cleanups.push(() => replica.stop());
    baseUrl = replica.url;
    db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    file.cleanups.push(() => db.end());
    await waitUntil(
      async () => {
        const answer = await get('/v1/cluster');
        if (answer.status !== 200) return false;
        const lanes = (json(answer) as ClusterView).lanes;
        return lanes.length === LANES.length && lanes.every((l) => l.leader === 'fz1');
      },
      { timeoutMs: 20_000, message: 'fz1 leads every lane' },
    );
    // One committed block per lane, so block pages and balances have something to show.
    const seeds = await Promise.all(
      LANES.map((lane) => signTx(lane, { kind: 'faucet', args: { amount: 7 }, nonce: 'seed' }, KEYS[0])),
    );
    for (const [i, seed] of seeds.entries()) {
      const answer = await send(baseUrl, 'POST', `/v1/lanes/${LANES[i]!}/txs`, {
        body: JSON.stringify(seed.envelope),
      });
      assert.equal(answer.status, 202, answer.text);
    }
    await waitCommitted(seeds.map((s) => s.id));
  });

  it('random methods, paths, queries, headers and bodies: never a 5xx, always a coded error, nothing changes', async () => {
    await unchangedBy(() =>
      fc.assert(
        fc.asyncProperty(httpCaseArb, async (c) => {
          const answer = await sendCase(baseUrl, c);
          assertContract(answer, c.method, `${c.method} ${c.path}`);
          await assertAlive();
        }),
        options(1, 600),
      ),
    );
  });

  it('random submission bodies (text, binary, JSON of any shape, huge, chunked, compressed): a coded 4xx, nothing changes', async () => {
    await unchangedBy(() =>
      fc.assert(
        fc.asyncProperty(submitCaseArb, async (c) => {
          const answer = await sendCase(baseUrl, c);
          assertContract(answer, c.method, `${c.method} ${c.path}`);
          assert.ok(answer.status >= 400, `unsigned input refused: ${answer.status} ${answer.text}`);
          await assertAlive();
        }),
        options(2, 400),
      ),
    );
  });

  it('raw requests (broken framing, content-length mismatches, odd request lines): a coded answer, nothing changes', async () => {
    await unchangedBy(() =>
      fc.assert(
        fc.asyncProperty(rawCaseArb, async (c) => {
          const answer = await answerOf(
            rawExchange(baseUrl, c.bytes, { halfClose: c.halfClose, timeoutMs: 5_000 }),
          );
          // Node drops the answers of requests still in flight when the client half-closes (it
          // takes that for leaving): an answer may be missing then, never wrong.
          if (!(answer.status === 0 && c.halfClose))
            assertContract(answer, c.method, c.bytes.subarray(0, 300).toString('latin1'));
          await assertAlive();
        }),
        options(3, 400),
      ),
    );
  });

  it('reads with fuzzed parameters answer exactly what the ledger holds, or 400 bad_request', async () => {
    const ledger = await ledgerSnapshot(db);
    await unchangedBy(() =>
      fc.assert(
        fc.asyncProperty(fc.constantFrom(...LANES), readArb(ledger), async (lane, read) => {
          const path = `/v1/lanes/${lane}/${read.resource}${read.arg}`;
          const answer = await get(path);
          assertContract(answer, 'GET', path);
          const expected = expectedRead(ledger, lane, read);
          if (expected === 'bad_request' || expected === 'not_found') {
            assert.equal(errorCode(answer), expected, `${path}: ${answer.status} ${answer.text}`);
          } else if (expected !== 'another route') {
            assert.equal(answer.status, 200, `${path}: ${answer.text}`);
            assert.deepEqual(readShown(json(answer)), expected, path);
          }
          await assertAlive();
        }),
        options(4, 400),
      ),
    );
  });

  it('signed envelopes with edge values: accepted exactly when valid, and only accepted ones change state', async () => {
    loggedErrors.length = 0;
    const before = await ledgerSnapshot(db);
    const known = new Set(before.txs.map((t) => t.id));
    const refused = new Set<string>();
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(signedSpecArb, async (spec) => {
        const c = await buildSigned(spec);
        const reason = refusalReason(c.wire, c.urlLane, LANES, c.signatureOk);
        const verdict = reason === undefined ? 'must be accepted' : `must be refused (${reason})`;
        const what = `${verdict}: POST /v1/lanes/${c.urlLane}/txs ${c.wire}`;
        let firstCode: string | undefined;
        for (let attempt = 0; attempt < (c.repeat ? 2 : 1); attempt++) {
          const answer = await answerOf(
            send(baseUrl, 'POST', `/v1/lanes/${c.urlLane}/txs`, { body: c.wire }),
          );
          assertContract(answer, 'POST', what);
          if (reason === undefined) {
            // A transaction the ledger already holds is recognised (200), never stored twice.
            const again = known.has(c.id);
            assert.equal(answer.status, again ? 200 : 202, `${what} → ${answer.status} ${answer.text}`);
            const payload = json(answer) as { id: string; status: string };
            if (again) assert.equal(payload.id, c.id);
            else assert.deepEqual(payload, { id: c.id, status: 'pending' });
            known.add(c.id);
            accepted++;
          } else {
            assert.ok(answer.status >= 400, `${what} → ${answer.status} ${answer.text}`);
            if (attempt === 0) firstCode = errorCode(answer);
            else assert.equal(errorCode(answer), firstCode, `${what}: refused the same way twice`);
            refused.add(c.id);
          }
        }
        await assertAlive();
      }),
      // Cases change the ledger, so a shrunk case would meet another state: report the first failure as is.
      { ...options(5, 400), endOnFailure: true },
    );

    // Every 2xx-accepted transaction commits; nothing else is stored.
    await waitCommitted(known);
    const after = await ledgerSnapshot(db);
    const stored = new Set(after.txs.map((t) => t.id));
    assert.deepEqual(
      [...stored].sort(),
      [...known].sort(),
      'the ledger holds exactly the accepted transactions',
    );
    const refusedOnly = [...refused].filter((id) => !known.has(id));
    assert.deepEqual(
      refusedOnly.filter((id) => stored.has(id)),
      [],
      'no refused transaction left a row',
    );
    assert.ok(accepted > 0 && refusedOnly.length > 0, 'the generator made both valid and invalid cases');
    const earlier = after.blocks.filter((b) =>
      before.blocks.some((o) => o.lane === b.lane && o.height === b.height),
    );
    assert.deepEqual(earlier, before.blocks, 'the blocks from before are untouched');
    const { rows } = await db.query<CommittedTx>(
      'SELECT lane, body, ok, error FROM baton_txs WHERE height IS NOT NULL ORDER BY lane, height, idx',
    );
    const replay = replayToken(rows);
    assert.deepEqual(replay.wrongOutcomes, [], 'every committed outcome is what the token app decides');
    assert.deepEqual(
      new Map(after.state.map((r) => [`${r.lane}/${r.key}`, r.value])),
      replay.state,
      'the state is exactly what the committed transactions wrote',
    );
    for (const lane of LANES) {
      const supply = after.state.find((r) => r.lane === lane && r.key === 'supply')?.value;
      assert.equal(supply, replay.faucets.get(lane) ?? 0, `${lane}: supply = committed faucet amounts`);
    }
    assertChain(after);
    assertNoErrorLogged();
  });

  it('after all of it the replica still stops gracefully, within its drain timeout', async () => {
    // A socket left open by some request would hold the server's close, and the stop, for ever.
    assert.ok(await settlesWithin(replica.stop(), 15_000), 'stop() completes');
    assertNoErrorLogged();
  });
});

/** Per lane, heights 1..n with no gap. */
function assertChain(ledger: LedgerSnapshot): void {
  for (const lane of LANES) {
    const heights = ledger.blocks.filter((b) => b.lane === lane).map((b) => b.height);
    assert.deepEqual(
      heights,
      heights.map((_, i) => i + 1),
      `${lane}: heights 1..n`,
    );
  }
}
