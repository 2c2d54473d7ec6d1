import { checkSnapshot } from './check-ledger.js';
import type { Op, StreamRecord } from './history.js';
import type { LedgerSnapshot, TxBody } from './ledger.js';
import type { Violation } from './violations.js';

export interface CheckInput {
  /** The run's history of client operations. */
  ops: readonly Op[];
  /** What each stream subscriber received. */
  streams: readonly StreamRecord[];
  /** One reference snapshot per lane: the database's (or, attached without it, one replica's). */
  ledgers: readonly LedgerSnapshot[];
  /** Each live replica's view of each lane, to compare with the reference. */
  replicas: readonly LedgerSnapshot[];
}

/** The bodies of the token transactions the workload sent, for sources that do not show bodies. */
export function bodiesFromHistory(ops: readonly Op[]): Map<string, TxBody> {
  const bodies = new Map<string, TxBody>();
  for (const op of ops) {
    // App intents are not the token model's to replay, whatever their args look like.
    if (op.kind === 'forged' || op.intent !== undefined || bodies.has(op.id)) continue;
    const kind = op.kind === 'resubmit' ? (op.args.to === undefined ? 'faucet' : 'transfer') : op.kind;
    bodies.set(op.id, { from: op.from, kind, args: op.args });
  }
  return bodies;
}

/**
 * Checks a whole run against the invariants of DESIGN.md. Returns every violation found; an
 * empty list means the run is clean. Pure: the inputs are collected by the runner.
 */
export function check(input: CheckInput): Violation[] {
  const out: Violation[] = [];
  const bodies = bodiesFromHistory(input.ops);
  for (const ledger of input.ledgers) {
    out.push(...checkSnapshot(ledger, bodies));
    out.push(...checkHistory(ledger, input.ops));
    for (const record of input.streams.filter((s) => s.lane === ledger.lane)) {
      out.push(...checkStream(ledger, record));
    }
    for (const replica of input.replicas.filter((r) => r.lane === ledger.lane)) {
      out.push(...compareReplica(ledger, replica));
    }
  }
  return out;
}

/** Acknowledged transactions (of any app) are in a block; definitely refused ones are in none. */
export function checkHistory(ledger: LedgerSnapshot, ops: readonly Op[]): Violation[] {
  const out: Violation[] = [];
  const committed = new Map<string, number>();
  for (const b of ledger.blocks) for (const id of b.txs) committed.set(id, b.height);
  for (const op of ops) {
    if (op.lane !== ledger.lane) continue;
    if (op.outcome === 'ok' && !committed.has(op.id)) {
      out.push({
        kind: 'lost-ack',
        lane: op.lane,
        message: `${op.kind} ${op.id} by ${op.client} was acknowledged at ${op.completedAt} ms but is in no block`,
        evidence: { op },
      });
    }
    if (op.kind === 'forged' && op.outcome === 'ok') {
      out.push({
        kind: 'refused-applied',
        lane: op.lane,
        message: `a badly signed transaction ${op.id} by ${op.client} was acknowledged`,
        evidence: { op },
      });
    }
    if ((op.outcome === 'failed' || op.kind === 'forged') && committed.has(op.id)) {
      out.push({
        kind: 'refused-applied',
        lane: op.lane,
        message: `${op.kind} ${op.id} was refused (${op.error ?? '?'}) but committed at ${committed.get(op.id)}`,
        evidence: { op },
      });
    }
  }
  return out;
}

/** A subscriber got every block above its cursor exactly once, in order, and the chain's own blocks. */
export function checkStream(ledger: LedgerSnapshot, record: StreamRecord): Violation[] {
  const out: Violation[] = [];
  const v = (kind: Violation['kind'], message: string, evidence: Record<string, unknown>): void => {
    out.push({ kind, lane: record.lane, message: `${record.subscriber}: ${message}`, evidence });
  };
  const hashes = new Map(ledger.blocks.map((b) => [b.height, b.hash]));
  let last = record.after;
  for (const seen of record.blocks) {
    if (seen.height <= last) {
      v('stream-repeat', `received block ${seen.height} again after ${last}`, {
        height: seen.height,
        after: last,
      });
    } else if (seen.height > last + 1) {
      v('stream-gap', `jumped from block ${last} to ${seen.height}`, { from: last, to: seen.height });
    }
    const hash = hashes.get(seen.height);
    if (hash !== undefined && hash !== seen.hash) {
      v('fork', `received block ${seen.height} with hash ${seen.hash}, the chain has ${hash}`, {
        height: seen.height,
        received: seen.hash,
        chain: hash,
      });
    }
    last = Math.max(last, seen.height);
  }
  const tip = ledger.blocks.at(-1)?.height ?? 0;
  if (last < tip) {
    v('stream-gap', `stopped at block ${last}; the chain's tip is ${tip}`, {
      last,
      tip,
      error: record.error,
    });
  }
  return out;
}

/** A replica serves the same blocks as the reference, and the same balances where it showed some (token lanes). */
export function compareReplica(reference: LedgerSnapshot, replica: LedgerSnapshot): Violation[] {
  const out: Violation[] = [];
  const v = (message: string, evidence: Record<string, unknown>): void => {
    out.push({
      kind: 'replica-disagrees',
      lane: reference.lane,
      message: `${replica.source} vs ${reference.source}: ${message}`,
      evidence,
    });
  };
  if (replica.app !== undefined && reference.app !== undefined && replica.app !== reference.app)
    v(`the lane runs ${replica.app}, not ${reference.app}`, {
      replica: replica.app,
      reference: reference.app,
    });
  const ref = reference.blocks;
  const mine = replica.blocks;
  if (mine.length !== ref.length)
    v(`${mine.length} blocks, not ${ref.length}`, { replica: mine.length, reference: ref.length });
  for (let i = 0; i < Math.min(ref.length, mine.length); i++) {
    const a = ref[i]!;
    const b = mine[i]!;
    if (a.height !== b.height || a.hash !== b.hash || a.term !== b.term || a.txs.join() !== b.txs.join()) {
      v(`block ${a.height} differs`, { height: a.height, reference: a.hash, replica: b.hash });
      break;
    }
  }
  for (const [account, balance] of replica.balances) {
    const expected = reference.balances.get(account) ?? 0;
    if (balance !== expected) {
      v(`account ${account.slice(0, 12)}… holds ${balance}, not ${expected}`, { account, balance, expected });
    }
  }
  return out;
}
