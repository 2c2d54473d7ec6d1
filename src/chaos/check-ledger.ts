import { GENESIS_PARENT } from '../db/migrations.js';
import { FAUCET_MAX, tokenApp } from '../apps/token.js';
import type { LedgerSnapshot, TxBody } from './ledger.js';
import type { Violation } from './violations.js';

const HEX32 = /^[0-9a-fA-F]{64}$/;

function isAmount(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= max;
}

/**
 * The token app written again, independently, as the checker's model: replaying the committed
 * transactions in block order must give the balances and the accept/refuse results the
 * cluster recorded. A transaction applied twice (or skipped) shows up as a difference.
 */
export class TokenModel {
  readonly balances = new Map<string, number>();
  minted = 0;

  balance(account: string): number {
    return this.balances.get(account) ?? 0;
  }

  /** Applies one transaction; returns whether the app accepts it. */
  apply(body: TxBody): boolean {
    const from = body.from.toLowerCase();
    const { amount, to } = body.args;
    if (body.kind === 'faucet') {
      if (!isAmount(amount, FAUCET_MAX) || Object.keys(body.args).length !== 1) return false;
      this.balances.set(from, this.balance(from) + amount);
      this.minted += amount;
      return true;
    }
    if (body.kind === 'transfer') {
      if (!isAmount(amount, Number.MAX_SAFE_INTEGER) || typeof to !== 'string' || !HEX32.test(to))
        return false;
      if (Object.keys(body.args).length !== 2) return false;
      const target = to.toLowerCase();
      if (this.balance(from) < amount) return false;
      if (target === from) return true;
      this.balances.set(from, this.balance(from) - amount);
      this.balances.set(target, this.balance(target) + amount);
      return true;
    }
    return false;
  }
}

/** Whether the token model applies to the lane: its app is token, or unknown (a snapshot that does not say). */
export function isTokenLane(snapshot: LedgerSnapshot): boolean {
  return snapshot.app === undefined || snapshot.app === tokenApp.name;
}

/**
 * Checks one lane's snapshot on its own: a single gapless hash chain from height 1, terms that
 * never go back (no block of a fenced term), every transaction in at most one block, receipts
 * that match the blocks; and on token lanes, state equal to a model replay and supply conserved.
 * `knownBodies` supplies transaction bodies when the snapshot has none (HTTP sources).
 */
export function checkSnapshot(
  snapshot: LedgerSnapshot,
  knownBodies: ReadonlyMap<string, TxBody> = new Map(),
): Violation[] {
  const { lane } = snapshot;
  const out: Violation[] = [];
  const v = (kind: Violation['kind'], message: string, evidence?: Record<string, unknown>): void => {
    out.push({ kind, lane, message, ...(evidence ? { evidence } : {}) });
  };

  // Chain: heights 1..n, each block linked to the one below; terms never go back.
  let parent = GENESIS_PARENT;
  let expected = 1;
  let maxTerm = 0;
  let maxTermHeight = 0;
  const where = new Map<string, number>();
  for (const b of snapshot.blocks) {
    if (b.height < expected) {
      v('fork', `two blocks at height ${b.height}`, { height: b.height, hash: b.hash });
      continue;
    }
    if (b.height > expected) {
      v('gap', `heights ${expected}..${b.height - 1} are missing`, { from: expected, to: b.height - 1 });
    } else if (b.parentHash !== parent) {
      v('fork', `block ${b.height} does not link to the block below it`, {
        height: b.height,
        parentHash: b.parentHash,
        below: parent,
      });
    }
    if (b.term < maxTerm) {
      v('fenced-term', `block ${b.height} has term ${b.term} after a block of term ${maxTerm}`, {
        height: b.height,
        term: b.term,
        producer: b.producer,
        newerTerm: maxTerm,
        newerTermSince: maxTermHeight,
      });
    } else if (b.term > maxTerm) {
      maxTerm = b.term;
      maxTermHeight = b.height;
    }
    for (const id of b.txs) {
      const first = where.get(id);
      if (first !== undefined) {
        v('double-apply', `transaction ${id} is in blocks ${first} and ${b.height}`, {
          id,
          heights: [first, b.height],
        });
      } else where.set(id, b.height);
    }
    parent = b.hash;
    expected = b.height + 1;
  }

  // Receipts (database): exactly the transactions of the blocks, at their height and index.
  if (snapshot.receipts) {
    for (const b of snapshot.blocks) {
      b.txs.forEach((id, index) => {
        const r = snapshot.receipts!.get(id);
        const ok = b.results?.[index];
        if (!r || r.height !== b.height || r.index !== index || (ok !== undefined && r.ok !== ok)) {
          v(
            'receipt-mismatch',
            `transaction ${id} of block ${b.height} has receipt ${JSON.stringify(r ?? null)}`,
            {
              id,
              height: b.height,
              index,
            },
          );
        }
      });
    }
    for (const [id, r] of snapshot.receipts) {
      if (!where.has(id)) {
        v('receipt-mismatch', `transaction ${id} is marked committed at ${r.height} but is in no block`, {
          id,
          height: r.height,
        });
      }
    }
  }

  // The rest is the token app's model: other apps get the app-independent checks above.
  if (!isTokenLane(snapshot)) return out;

  // Model replay in block order: results and balances must match.
  const model = new TokenModel();
  const bodies = snapshot.bodies ?? knownBodies;
  let minted = 0;
  for (const b of snapshot.blocks) {
    b.txs.forEach((id, index) => {
      const body = bodies.get(id);
      if (!body) return; // not ours (HTTP source): the model cannot replay it
      const ok = model.apply(body);
      const recorded = snapshot.receipts?.get(id)?.ok ?? b.results?.[index];
      if (recorded !== undefined && recorded !== ok) {
        v(
          'double-apply',
          `transaction ${id} at ${b.height}:${index} is recorded ok=${recorded}, the replay says ok=${ok}`,
          {
            id,
            height: b.height,
            recorded,
            replay: ok,
          },
        );
      }
      if (recorded === true && body.kind === 'faucet' && typeof body.args.amount === 'number') {
        minted += body.args.amount;
      }
    });
  }
  const accounts = snapshot.allAccounts
    ? new Set([...snapshot.balances.keys(), ...model.balances.keys()])
    : new Set(snapshot.balances.keys());
  let differ = 0;
  for (const account of accounts) {
    const actual = snapshot.balances.get(account) ?? 0;
    const replay = model.balance(account);
    if (actual !== replay) {
      differ++;
      if (differ <= 5) {
        v('double-apply', `account ${account.slice(0, 12)}… holds ${actual}, the replay says ${replay}`, {
          account,
          actual,
          replay,
        });
      }
    }
  }

  // Supply: what the committed faucets minted is what the accounts hold.
  if (snapshot.allAccounts) {
    const held = [...snapshot.balances.values()].reduce((a, b) => a + b, 0);
    if (held !== minted || (snapshot.supply !== undefined && snapshot.supply !== minted)) {
      v(
        'supply',
        `committed faucets minted ${minted}, accounts hold ${held}, the supply says ${snapshot.supply ?? '?'}`,
        {
          minted,
          held,
          supply: snapshot.supply,
        },
      );
    }
  }
  return out;
}

/** The ids among `ids` that are in no block of the snapshot. */
export function notCommitted(snapshot: LedgerSnapshot, ids: Iterable<string>): string[] {
  const committed = new Set(snapshot.blocks.flatMap((b) => b.txs));
  return [...ids].filter((id) => !committed.has(id));
}
