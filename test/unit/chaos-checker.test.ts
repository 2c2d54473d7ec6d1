import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bodiesFromHistory, check, type CheckInput } from '../../src/chaos/checker.js';
import type { Op, StreamRecord } from '../../src/chaos/history.js';
import type { LedgerBlock, LedgerSnapshot, TxBody } from '../../src/chaos/ledger.js';
import type { ViolationKind } from '../../src/chaos/violations.js';
import { GENESIS_PARENT } from '../../src/db/migrations.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);
const id = (n: number): string => n.toString(16).padStart(64, '0');
const hash = (h: number, fork = ''): string => `hash-${h}${fork}`;

/** Three blocks: A gets 100, A sends 30 to B, B gets 50. Balances A 70, B 80; supply 150. */
const BODIES: Readonly<Record<string, TxBody>> = {
  [id(1)]: { from: A, kind: 'faucet', args: { amount: 100 } },
  [id(2)]: { from: A, kind: 'transfer', args: { to: B, amount: 30 } },
  [id(3)]: { from: B, kind: 'faucet', args: { amount: 50 } },
};

function block(
  height: number,
  term: number,
  txs: string[],
  parentHash = height === 1 ? GENESIS_PARENT : hash(height - 1),
): LedgerBlock {
  return {
    height,
    hash: hash(height),
    parentHash,
    term,
    producer: `r${term}`,
    time: 1_000 * height,
    txs,
    results: txs.map(() => true),
  };
}

function ledger(blocks = [block(1, 1, [id(1)]), block(2, 1, [id(2)]), block(3, 2, [id(3)])]): LedgerSnapshot {
  const receipts = new Map<string, { height: number; index: number; ok: boolean }>();
  for (const b of blocks)
    b.txs.forEach((tx, index) =>
      receipts.set(tx, { height: b.height, index, ok: b.results?.[index] ?? true }),
    );
  return {
    lane: 'main',
    source: 'database',
    blocks,
    receipts,
    bodies: new Map(Object.entries(BODIES)),
    balances: new Map([
      [A, 70],
      [B, 80],
    ]),
    allAccounts: true,
    supply: 150,
    pending: 0,
  };
}

function op(seq: number, txId: string, outcome: Op['outcome'], kind: Op['kind'] = 'faucet'): Op {
  const body = BODIES[txId] ?? { from: A, kind: 'faucet', args: { amount: 5 } };
  return {
    seq,
    client: 'c1',
    lane: 'main',
    id: txId,
    kind,
    from: body.from,
    args: body.args,
    invokedAt: seq * 10,
    completedAt: seq * 10 + 5,
    outcome,
    ...(outcome === 'failed' ? { error: 'bad_signature' } : {}),
  };
}

function stream(subscriber: string, after: number, heights: number[], fork = ''): StreamRecord {
  return {
    subscriber,
    lane: 'main',
    after,
    startedAt: 0,
    blocks: heights.map((h) => ({ height: h, hash: hash(h, h === 2 ? fork : ''), at: h * 1_000 })),
  };
}

function replica(source: string, snapshot = ledger()): LedgerSnapshot {
  return {
    lane: 'main',
    source,
    blocks: snapshot.blocks.map(({ results: _r, ...b }) => b),
    balances: new Map(snapshot.balances),
    allAccounts: false,
  };
}

/** A clean run, with lists the tests may edit. */
function clean(): CheckInput & {
  ops: Op[];
  streams: StreamRecord[];
  ledgers: LedgerSnapshot[];
  replicas: LedgerSnapshot[];
} {
  return {
    ops: [
      op(0, id(1), 'ok'),
      op(1, id(2), 'ok', 'transfer'),
      op(2, id(3), 'ok'),
      op(3, id(99), 'failed', 'forged'),
    ],
    streams: [stream('s1', 0, [1, 2, 3]), stream('s2', 1, [2, 3])],
    ledgers: [ledger()],
    replicas: [replica('r1'), replica('r2')],
  };
}

function kinds(input: CheckInput): ViolationKind[] {
  return [...new Set(check(input).map((v) => v.kind))].sort();
}

describe('the chaos checker', () => {
  test('a clean run has no violation', () => {
    assert.deepEqual(check(clean()), []);
  });

  test('fork: two blocks at one height, a broken parent link, a stream that saw another block', () => {
    const twice = clean();
    const blocks = ledger().blocks;
    twice.ledgers = [ledger([blocks[0]!, blocks[1]!, { ...blocks[1]!, hash: 'other' }, blocks[2]!])];
    assert.ok(kinds(twice).includes('fork'));

    const unlinked = clean();
    unlinked.ledgers = [ledger([blocks[0]!, block(2, 1, [id(2)], 'not-the-parent'), blocks[2]!])];
    assert.ok(kinds(unlinked).includes('fork'));

    const seen = clean();
    seen.streams = [stream('s1', 0, [1, 2, 3], '-fork')];
    assert.deepEqual(kinds(seen), ['fork']);
  });

  test('gap: a missing height', () => {
    const input = clean();
    input.ledgers = [ledger([block(1, 1, [id(1)]), block(3, 2, [id(3)], hash(2))])];
    input.ops = input.ops.filter((o) => o.id !== id(2));
    input.streams = [];
    input.replicas = [];
    input.ledgers[0]!.balances = new Map([
      [A, 100],
      [B, 50],
    ]);
    assert.deepEqual(kinds(input), ['gap']);
  });

  test('fenced-term: a block of an older term after a newer term began', () => {
    const input = clean();
    input.ledgers = [ledger([block(1, 1, [id(1)]), block(2, 3, [id(2)]), block(3, 2, [id(3)])])];
    input.replicas = [];
    assert.deepEqual(kinds(input), ['fenced-term']);
  });

  test('lost-ack: an acknowledged transaction in no block', () => {
    const input = clean();
    input.ops.push(op(4, id(4), 'ok'));
    assert.deepEqual(kinds(input), ['lost-ack']);
    // The same transaction with an unknown outcome may be lost: no violation.
    input.ops[4] = op(4, id(4), 'unknown');
    assert.deepEqual(check(input), []);
  });

  test('double-apply: a transaction in two blocks, or balances that a replay does not give', () => {
    const twice = clean();
    twice.ledgers = [ledger([block(1, 1, [id(1)]), block(2, 1, [id(2)]), block(3, 2, [id(3), id(1)])])];
    twice.replicas = [];
    assert.ok(kinds(twice).includes('double-apply'));

    const balance = clean();
    balance.ledgers[0]!.balances.set(B, 110); // the transfer applied twice
    balance.ledgers[0]!.balances.set(A, 40);
    balance.replicas = [];
    assert.deepEqual(kinds(balance), ['double-apply']);

    const result = clean();
    result.ledgers[0]!.blocks[1]!.results = [false];
    result.ledgers[0]!.receipts!.set(id(2), { height: 2, index: 0, ok: false });
    result.replicas = [];
    assert.ok(kinds(result).includes('double-apply'), 'a refused transfer that the replay accepts');
  });

  test('stream gap and stream repeat', () => {
    const gap = clean();
    gap.streams = [stream('s1', 0, [1, 3])];
    assert.deepEqual(kinds(gap), ['stream-gap']);

    const stopped = clean();
    stopped.streams = [stream('s1', 0, [1, 2])];
    assert.deepEqual(kinds(stopped), ['stream-gap'], 'a subscriber that never reached the tip');

    const repeat = clean();
    repeat.streams = [stream('s1', 0, [1, 2, 2, 3])];
    assert.deepEqual(kinds(repeat), ['stream-repeat']);
  });

  test('replica-disagrees: other blocks, fewer blocks, or other balances', () => {
    const blocks = clean();
    const other = replica('r2');
    other.blocks[1] = { ...other.blocks[1]!, hash: 'other' };
    blocks.replicas = [replica('r1'), other];
    assert.deepEqual(kinds(blocks), ['replica-disagrees']);

    const behind = clean();
    const short = replica('r2');
    short.blocks.pop();
    behind.replicas = [short];
    assert.deepEqual(kinds(behind), ['replica-disagrees']);

    const balances = clean();
    const rich = replica('r2');
    rich.balances.set(A, 71);
    balances.replicas = [rich];
    assert.deepEqual(kinds(balances), ['replica-disagrees']);
  });

  test('supply not conserved', () => {
    const counter = clean();
    counter.ledgers[0]!.supply = 140;
    assert.deepEqual(kinds(counter), ['supply']);

    const minted = clean();
    minted.ledgers[0]!.balances.set(C, 10); // money from nowhere
    assert.ok(kinds(minted).includes('supply'));
  });

  test('refused-applied: a definitely refused or forged transaction that committed', () => {
    const input = clean();
    input.ops.push(op(4, id(5), 'failed', 'forged'));
    input.ledgers = [ledger([...ledger().blocks, block(4, 2, [id(5)])])];
    const snapshot = input.ledgers[0]!;
    snapshot.bodies!.set(id(5), { from: A, kind: 'faucet', args: { amount: 5 } });
    snapshot.balances.set(A, 75);
    snapshot.supply = 155;
    input.streams = [];
    input.replicas = [];
    assert.deepEqual(kinds(input), ['refused-applied']);
    input.ops[4] = op(4, id(5), 'ok', 'forged');
    assert.deepEqual(kinds(input), ['refused-applied'], 'a forged transaction acknowledged');
  });

  test('receipt-mismatch: a receipt at another height than the block holding it', () => {
    const input = clean();
    input.ledgers[0]!.receipts!.set(id(2), { height: 3, index: 0, ok: true });
    assert.deepEqual(kinds(input), ['receipt-mismatch']);
  });
});

describe('the chaos checker on a lane of another app', () => {
  const put = (n: number): TxBody => ({ from: A, kind: 'put', args: { key: `k${n}`, text: `c1-${n}` } });

  /** A notes lane: three puts, one per block, as the database shows it (no balances, no supply). */
  function notesLedger(blocks = [block(1, 1, [id(11)]), block(2, 1, [id(12)]), block(3, 2, [id(13)])]) {
    const snapshot = ledger(blocks);
    snapshot.lane = 'notes';
    snapshot.app = 'notes';
    snapshot.bodies = new Map([11, 12, 13].map((n) => [id(n), put(n)]));
    snapshot.balances = new Map();
    delete snapshot.supply;
    return snapshot;
  }

  function appOp(seq: number, n: number, outcome: Op['outcome'], kind: Op['kind'] = 'app'): Op {
    const body = put(n);
    return { ...op(seq, id(n), outcome, kind), lane: 'notes', args: body.args, intent: body.kind };
  }

  function notesRun(): CheckInput & { ops: Op[]; ledgers: LedgerSnapshot[] } {
    const http = (source: string): LedgerSnapshot => ({
      ...replica(source, notesLedger()),
      lane: 'notes',
      app: 'notes',
    });
    return {
      ops: [
        appOp(0, 11, 'ok'),
        appOp(1, 12, 'ok'),
        appOp(2, 11, 'ok', 'resubmit'),
        appOp(3, 13, 'ok'),
        appOp(4, 14, 'failed', 'forged'),
      ],
      streams: [{ ...stream('s1', 0, [1, 2, 3]), lane: 'notes' }],
      ledgers: [notesLedger()],
      replicas: [http('r1'), http('r2')],
    };
  }

  test('a clean run: the token model does not run (a put is no faucet, and there are no balances)', () => {
    assert.deepEqual(check(notesRun()), []);
    // The same blocks on a token lane: the model refuses every put that the lane accepted.
    const asToken = notesRun();
    asToken.ledgers[0]!.app = 'token';
    assert.ok(kinds(asToken).includes('double-apply'));
  });

  test('app intents never feed the token model as known bodies', () => {
    assert.deepEqual(bodiesFromHistory(notesRun().ops).size, 0);
  });

  test('lost-ack: an acknowledged app operation in no block', () => {
    const input = notesRun();
    input.ops.push(appOp(5, 15, 'ok'));
    assert.deepEqual(kinds(input), ['lost-ack']);
  });

  test('double-apply: an app transaction in two blocks', () => {
    const input = notesRun();
    input.ledgers = [
      notesLedger([block(1, 1, [id(11)]), block(2, 1, [id(12), id(11)]), block(3, 2, [id(13)])]),
    ];
    input.replicas = [];
    const doubles = check(input).filter((v) => v.kind === 'double-apply');
    // Only the two blocks: no token model replays the puts.
    assert.deepEqual(
      doubles.map((v) => v.evidence?.['heights']),
      [[1, 2]],
    );
  });

  test('refused-applied: a forged app transaction that committed', () => {
    const input = notesRun();
    input.ledgers = [notesLedger([...notesLedger().blocks, block(4, 2, [id(14)])])];
    input.replicas = [];
    input.streams = [];
    assert.deepEqual(kinds(input), ['refused-applied']);
  });

  test('replica-disagrees: a replica that serves the lane with another app or other blocks', () => {
    const input = notesRun();
    input.replicas[1]!.app = 'token';
    input.replicas[0]!.blocks.pop();
    const found = check(input);
    assert.deepEqual([...new Set(found.map((v) => v.kind))], ['replica-disagrees']);
    assert.equal(found.length, 2);
  });
});
