import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { App, ApplyResult } from '../../src/apps/app.js';
import { AppRunner } from '../../src/apps/runner.js';
import { BatonError } from '../../src/errors.js';
import { blockHash, type BlockRecord } from '../../src/ledger/block.js';
import { LaneState } from '../../src/ledger/lane-state.js';
import { buildBlock, type LaneCode, type LeaderContext } from '../../src/ledger/leader.js';
import type { PendingTx } from '../../src/ledger/store.js';
import {
  APPROVE_KIND,
  applyApproval,
  approvalsKey,
  approvalsOf,
  dueUpgrade,
  isReservedKind,
  validateReserved,
  type UpgradePolicy,
} from '../../src/ledger/upgrades.js';
import { GENESIS_PARENT } from '../../src/db/migrations.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);
const STRANGER = 'e'.repeat(64);

function emptyLane(version: string | null = '1.0.0'): LaneState {
  return new LaneState({ height: 0, tipHash: GENESIS_PARENT, tipTime: 0, version, entries: [] });
}

function policy(overrides: Partial<UpgradePolicy> = {}): UpgradePolicy {
  // Lane lowers the approvers' keys when it reads them (see src/ledger/lane.ts).
  return { approvers: [A, B, C], quorum: 2, proposedVersion: '2.0.0', ...overrides };
}

describe('applyApproval and approvalsOf', () => {
  it('counts an approver once, in the reserved state key, and answers the count', () => {
    const overlay = emptyLane().overlay();
    const p = policy();
    assert.deepEqual(applyApproval(overlay, A, { version: '2.0.0' }, p), {
      ok: true,
      result: { version: '2.0.0', approvals: 1, quorum: 2 },
    });
    assert.deepEqual(approvalsOf(overlay, '2.0.0'), [A]);
    assert.deepEqual(overlay.changes(), [[approvalsKey('2.0.0'), [A]]]);
    assert.match(approvalsKey('2.0.0'), /^\$baton\//);

    assert.deepEqual(applyApproval(overlay, A, { version: '2.0.0' }, p), {
      ok: false,
      error: 'duplicate_approval',
    });
    assert.deepEqual(approvalsOf(overlay, '2.0.0'), [A], 'a repeated approval counts nothing');

    assert.deepEqual(applyApproval(overlay, B, { version: '2.0.0' }, p), {
      ok: true,
      result: { version: '2.0.0', approvals: 2, quorum: 2 },
    });
    assert.deepEqual(approvalsOf(overlay, '2.0.0'), [A, B]);
  });

  it('keeps the approvers sorted whatever the order they approve in', () => {
    const overlay = emptyLane().overlay();
    for (const key of [C, A, B])
      assert.equal(applyApproval(overlay, key, { version: '2.0.0' }, policy()).ok, true);
    assert.deepEqual(approvalsOf(overlay, '2.0.0'), [A, B, C]);
  });

  it('refuses a key that is not an approver, and counts nothing', () => {
    const overlay = emptyLane().overlay();
    assert.deepEqual(applyApproval(overlay, STRANGER, { version: '2.0.0' }, policy()), {
      ok: false,
      error: 'not_an_approver',
    });
    assert.deepEqual(approvalsOf(overlay, '2.0.0'), []);
    assert.deepEqual(overlay.changes(), []);
  });

  it('refuses every key on a lane without approvers', () => {
    const overlay = emptyLane().overlay();
    const none = policy({ approvers: [], quorum: 0 });
    assert.deepEqual(applyApproval(overlay, A, { version: '2.0.0' }, none), {
      ok: false,
      error: 'not_an_approver',
    });
    assert.deepEqual(overlay.changes(), []);
  });

  it('counts an approval of another version only for that version', () => {
    const overlay = emptyLane().overlay();
    const p = policy();
    assert.equal(applyApproval(overlay, A, { version: '3.0.0' }, p).ok, true);
    assert.deepEqual(approvalsOf(overlay, '3.0.0'), [A]);
    assert.deepEqual(approvalsOf(overlay, '2.0.0'), []);
    // The same approver may still approve the proposed version, once.
    assert.equal(applyApproval(overlay, A, { version: '2.0.0' }, p).ok, true);
    assert.deepEqual(approvalsOf(overlay, '2.0.0'), [A]);
    assert.deepEqual(approvalsOf(overlay, '3.0.0'), [A]);
    assert.equal(dueUpgrade(overlay, '1.0.0', p), null, 'one approval each: no quorum for either');
  });

  it('compares keys case-insensitively: an upper-case signer is the same approver', () => {
    const overlay = emptyLane().overlay();
    const p = policy();
    assert.equal(applyApproval(overlay, A.toUpperCase(), { version: '2.0.0' }, p).ok, true);
    assert.deepEqual(approvalsOf(overlay, '2.0.0'), [A], 'stored lower-case');
    assert.deepEqual(applyApproval(overlay, A, { version: '2.0.0' }, p), {
      ok: false,
      error: 'duplicate_approval',
    });
    const mixed = `${B.slice(0, 32).toUpperCase()}${B.slice(32)}`;
    assert.equal(applyApproval(overlay, mixed, { version: '2.0.0' }, p).ok, true);
    assert.deepEqual(approvalsOf(overlay, '2.0.0'), [A, B]);
    assert.equal(dueUpgrade(overlay, '1.0.0', p), '2.0.0');
  });

  for (const [what, args] of [
    ['null', null],
    ['a string', '2.0.0'],
    ['{}', {}],
    ['a numeric version', { version: 2 }],
    ['a version Baton cannot order', { version: 'latest' }],
    ['an empty version', { version: '' }],
  ] as Array<[string, unknown]>) {
    it(`refuses args that are ${what} as bad_args, counting nothing`, () => {
      const overlay = emptyLane().overlay();
      assert.deepEqual(applyApproval(overlay, A, args, policy()), { ok: false, error: 'bad_args' });
      assert.deepEqual(overlay.changes(), []);
    });
  }

  it('reads no approvals from a state without them, or with something else under the key', () => {
    const overlay = emptyLane().overlay();
    assert.deepEqual(approvalsOf(overlay, '2.0.0'), []);
    overlay.set(approvalsKey('2.0.0'), 'not a list');
    assert.deepEqual(approvalsOf(overlay, '2.0.0'), []);
    overlay.set(approvalsKey('2.0.0'), [A, 5, null, B]);
    assert.deepEqual(approvalsOf(overlay, '2.0.0'), [A, B]);
  });
});

describe('dueUpgrade', () => {
  it('is null without a proposal', () => {
    const overlay = emptyLane().overlay();
    assert.equal(
      dueUpgrade(overlay, '1.0.0', policy({ proposedVersion: null, quorum: 0, approvers: [] })),
      null,
    );
    assert.equal(dueUpgrade(overlay, '1.0.0', policy({ proposedVersion: null })), null);
  });

  it('is null when the proposed version is the active one', () => {
    const overlay = emptyLane().overlay();
    assert.equal(dueUpgrade(overlay, '2.0.0', policy({ quorum: 0, approvers: [] })), null);
    for (const key of [A, B, C]) applyApproval(overlay, key, { version: '2.0.0' }, policy());
    assert.equal(dueUpgrade(overlay, '2.0.0', policy()), null);
  });

  it('is the proposal at once on a lane with quorum 0 (the admin’s word), from any active version', () => {
    const overlay = emptyLane().overlay();
    const admin = policy({ approvers: [], quorum: 0 });
    assert.equal(dueUpgrade(overlay, '1.0.0', admin), '2.0.0');
    assert.equal(dueUpgrade(overlay, null, admin), '2.0.0', 'a lane from before versions');
    assert.equal(dueUpgrade(overlay, '3.0.0', admin), '2.0.0', 'a downgrade is the admin’s call too');
  });

  it('is the proposal once the quorum is reached, not before', () => {
    const overlay = emptyLane().overlay();
    const p = policy();
    assert.equal(dueUpgrade(overlay, '1.0.0', p), null);
    applyApproval(overlay, A, { version: '2.0.0' }, p);
    assert.equal(dueUpgrade(overlay, '1.0.0', p), null);
    applyApproval(overlay, A, { version: '2.0.0' }, p); // a duplicate counts nothing
    applyApproval(overlay, STRANGER, { version: '2.0.0' }, p); // neither does a stranger
    assert.equal(dueUpgrade(overlay, '1.0.0', p), null);
    applyApproval(overlay, C, { version: '2.0.0' }, p);
    assert.equal(dueUpgrade(overlay, '1.0.0', p), '2.0.0');
    assert.equal(dueUpgrade(overlay, '1.0.0', policy({ quorum: 3 })), null, 'quorum 3 needs a third');
  });

  it('counts approvals of the proposed version only', () => {
    const overlay = emptyLane().overlay();
    const p = policy();
    applyApproval(overlay, A, { version: '3.0.0' }, p);
    applyApproval(overlay, B, { version: '3.0.0' }, p);
    assert.equal(dueUpgrade(overlay, '1.0.0', p), null, 'two approvals, of another version');
    assert.equal(dueUpgrade(overlay, '1.0.0', policy({ proposedVersion: '3.0.0' })), '3.0.0');
  });

  it('reads approvals already committed in the lane state, not only the overlay', () => {
    const lane = new LaneState({
      height: 5,
      tipHash: GENESIS_PARENT,
      tipTime: 0,
      version: '1.0.0',
      entries: [[approvalsKey('2.0.0'), [A, B]]],
    });
    assert.equal(dueUpgrade(lane, '1.0.0', policy()), '2.0.0');
    assert.equal(dueUpgrade(lane.overlay(), '1.0.0', policy()), '2.0.0');
  });
});

describe('validateReserved', () => {
  function refusal(fn: () => void, code: string): void {
    assert.throws(fn, (error: unknown) => {
      assert.ok(error instanceof BatonError, `a BatonError, got ${String(error)}`);
      assert.equal(error.code, code);
      return true;
    });
  }

  it('knows reserved kinds by their prefix', () => {
    assert.equal(isReservedKind(APPROVE_KIND), true);
    assert.equal(isReservedKind('baton.anything'), true);
    assert.equal(isReservedKind('batonapprove'), false);
    assert.equal(isReservedKind('transfer'), false);
  });

  it('accepts an approval of a version on a lane with approvers', () => {
    assert.doesNotThrow(() => validateReserved(APPROVE_KIND, { version: '2.0.0' }, policy()));
    assert.doesNotThrow(() => validateReserved(APPROVE_KIND, { version: '2.0.0-rc.1' }, policy()));
  });

  it('refuses an unknown reserved kind as unknown_kind, whatever the lane', () => {
    refusal(() => validateReserved('baton.propose', { version: '2.0.0' }, policy()), 'unknown_kind');
    refusal(() => validateReserved('baton.', {}, policy({ quorum: 0, approvers: [] })), 'unknown_kind');
    refusal(() => validateReserved('baton.approve2', { version: '2.0.0' }, policy()), 'unknown_kind');
  });

  it('refuses an approval on a lane without approvers as bad_args', () => {
    refusal(
      () => validateReserved(APPROVE_KIND, { version: '2.0.0' }, policy({ quorum: 0, approvers: [] })),
      'bad_args',
    );
  });

  for (const [what, args] of [
    ['null', null],
    ['an array', [{ version: '2.0.0' }]],
    ['a string', '2.0.0'],
    ['{}', {}],
    ['an extra field', { version: '2.0.0', note: 'x' }],
    ['a numeric version', { version: 2 }],
    ['a version Baton cannot order', { version: 'v2' }],
  ] as Array<[string, unknown]>) {
    it(`refuses approval args that are ${what} as bad_args`, () => {
      refusal(() => validateReserved(APPROVE_KIND, args, policy()), 'bad_args');
    });
  }
});

describe('buildBlock: app versions and upgrades', () => {
  /** An app that counts its transactions, so that the block has some app work too. */
  const counter: App = {
    name: 'counter',
    version: '1.4.2',
    validate: () => undefined,
    apply(state, tx): ApplyResult {
      if (tx.kind.startsWith('baton.')) throw new Error('the app must never see a reserved kind');
      const n = state.get('n');
      state.set('n', (typeof n === 'number' ? n : 0) + 1);
      return { ok: true };
    },
  };

  function context(lane: LaneState, code: Partial<LaneCode> = {}): LeaderContext {
    return {
      lane: 'main',
      term: 5,
      producer: 'r9',
      code: { app: () => counter, approvers: [], quorum: 0, proposedVersion: null, ...code },
      runner: new AppRunner(),
      follower: { current: lane },
    } as unknown as LeaderContext;
  }

  let nonce = 0;
  function pendingTx(from: string, kind: string, args: unknown): PendingTx {
    nonce++;
    const body = JSON.stringify({ lane: 'main', from, kind, args, nonce });
    return { id: nonce.toString(16).padStart(64, '0'), body };
  }
  const approve = (from: string, version = '2.0.0'): PendingTx => pendingTx(from, APPROVE_KIND, { version });
  const work = (): PendingTx => pendingTx(STRANGER, 'add', {});

  function build(ctx: LeaderContext, pending: PendingTx[]): BlockRecord {
    const block = buildBlock(ctx, pending);
    assert.ok(block, 'the replica runs the lane’s app');
    const { hash, ...rest } = block;
    assert.equal(hash, blockHash(rest), 'the hash covers the block as built');
    return block;
  }

  it('records the version of the app that produced the block, and no upgrade without a proposal', () => {
    const block = build(context(emptyLane('1.4.2')), [work()]);
    assert.equal(block.version, '1.4.2');
    assert.equal('upgrade' in block, false);
    assert.deepEqual(block.results, [{ ok: true }]);
  });

  it('records the app’s version on a lane from before versions too', () => {
    const block = build(context(emptyLane(null)), [work()]);
    assert.equal(block.version, '1.4.2');
  });

  it('carries the upgrade at once on a lane with quorum 0 and a proposal, even with no transactions', () => {
    const lane = emptyLane('1.4.2');
    const ctx = context(lane, { proposedVersion: '2.0.0' });
    const empty = build(ctx, []);
    assert.equal(empty.version, '1.4.2', 'produced by the old version');
    assert.equal(empty.upgrade, '2.0.0', 'switching from the next block on');
    assert.deepEqual(empty.txs, []);
    const withWork = build(ctx, [work()]);
    assert.equal(withWork.upgrade, '2.0.0');
    const { upgrade: _u, ...without } = withWork;
    assert.notEqual(blockHash(without), withWork.hash, 'the upgrade is part of the hash');
    assert.equal(lane.applyNext(empty), true);
    assert.equal(lane.version, '2.0.0', 'a follower switches with the block');
  });

  it('carries no upgrade when the proposal is the version the app already runs', () => {
    const block = build(context(emptyLane('1.4.2'), { proposedVersion: '1.4.2' }), [work()]);
    assert.equal('upgrade' in block, false);
  });

  it('with quorum 2, carries the upgrade only on the block that contains the second approval', () => {
    const lane = emptyLane('1.4.2');
    const ctx = context(lane, { approvers: [A, B, C], quorum: 2, proposedVersion: '2.0.0' });

    const first = build(ctx, [work(), approve(A)]);
    assert.equal('upgrade' in first, false);
    assert.deepEqual(first.results, [
      { ok: true },
      { ok: true, result: { version: '2.0.0', approvals: 1, quorum: 2 } },
    ]);
    assert.deepEqual(first.changes, [
      [approvalsKey('2.0.0'), [A]],
      ['n', 1],
    ]);
    assert.equal(lane.applyNext(first), true);

    // A duplicate, a stranger and an approval of another version: still one approval of 2.0.0.
    const second = build(ctx, [approve(A.toUpperCase()), approve(STRANGER), approve(B, '3.0.0'), work()]);
    assert.equal('upgrade' in second, false);
    assert.deepEqual(second.results.slice(0, 2), [
      { ok: false, error: 'duplicate_approval' },
      { ok: false, error: 'not_an_approver' },
    ]);
    assert.equal(second.results[2]?.ok, true);
    assert.equal(lane.applyNext(second), true);
    assert.equal(lane.version, '1.4.2');

    const third = build(ctx, [work(), approve(C)]);
    assert.equal(third.upgrade, '2.0.0');
    assert.equal(third.version, '1.4.2');
    assert.deepEqual(third.results[1], { ok: true, result: { version: '2.0.0', approvals: 2, quorum: 2 } });
    assert.equal(lane.applyNext(third), true);
    assert.equal(lane.version, '2.0.0');
    // The switch used the approvals up: a later proposal of 2.0.0 would start from none.
    assert.deepEqual(approvalsOf(lane, '2.0.0'), []);
  });

  it('with quorum 2, carries the upgrade on a block that holds both approvals', () => {
    const ctx = context(emptyLane('1.4.2'), { approvers: [A, B], quorum: 2, proposedVersion: '2.0.0' });
    const block = build(ctx, [approve(B), work(), approve(A)]);
    assert.equal(block.upgrade, '2.0.0');
  });

  it('does not count the approval of a transaction the block refused for another reason', () => {
    // Quorum 1: a stranger's approval must not switch the lane.
    const ctx = context(emptyLane('1.4.2'), { approvers: [A], quorum: 1, proposedVersion: '2.0.0' });
    const block = build(ctx, [approve(STRANGER), pendingTx(A, APPROVE_KIND, { version: 'nope' })]);
    assert.deepEqual(block.results, [
      { ok: false, error: 'not_an_approver' },
      { ok: false, error: 'bad_args' },
    ]);
    assert.equal('upgrade' in block, false);
    assert.deepEqual(block.changes, []);
  });

  it('refuses an unknown reserved kind without showing it to the app', () => {
    const block = build(context(emptyLane('1.4.2')), [
      pendingTx(A, 'baton.propose', { version: '2.0.0' }),
      work(),
    ]);
    assert.deepEqual(block.results, [{ ok: false, error: 'unknown_kind' }, { ok: true }]);
  });

  it('refuses an approval on a lane without approvers, and does not upgrade', () => {
    const block = build(context(emptyLane('1.4.2')), [approve(A)]);
    assert.deepEqual(block.results, [{ ok: false, error: 'not_an_approver' }]);
    assert.equal('upgrade' in block, false);
  });

  it('returns null when this replica does not have the lane’s app version', () => {
    const lane = emptyLane('9.9.9');
    const ctx = context(lane, { app: () => undefined, proposedVersion: '2.0.0' });
    assert.equal(buildBlock(ctx, [work()]), null);
    assert.equal(buildBlock(ctx, []), null);
    assert.equal(lane.height, 0);
  });
});
