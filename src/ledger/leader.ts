import type { App } from '../apps/app.js';
import type { AppRunner } from '../apps/runner.js';
import { executeTxs } from './execute.js';
import type { Logger } from '../log.js';
import { TypedEvents } from '../events.js';
import { backoffMs, sleep } from '../time.js';
import { SQLSTATE, isConnectionError, sqlState } from '../db/pool.js';
import { blockHash, type BlockRecord } from './block.js';
import { approvalsKey, dueUpgrade, type UpgradePolicy } from './upgrades.js';
import type { LaneFollower } from './follower.js';
import type { LedgerStore, PendingTx } from './store.js';
import type { Waker } from '../waker.js';

export interface LeaderLimits {
  /** Most transactions in one block. */
  maxBlockTxs: number;
  /**
   * Fallback when a notification is lost: every this often one query per replica looks for
   * pending transactions in all the lanes it leads and wakes those leader loops.
   */
  idlePollMs: number;
  /** Longest an idle leader loop sleeps on its own (notifications and the poll wake it sooner). */
  idleWaitMs: number;
  /** A leader with pending transactions that commits nothing for this long is stalled. */
  stallMs: number;
}

export const DEFAULT_LEADER_LIMITS: LeaderLimits = {
  maxBlockTxs: 2000,
  idlePollMs: 500,
  idleWaitMs: 10_000,
  stallMs: 10_000,
};

export interface LeaderEvents extends Record<string, unknown> {
  'block:committed': { lane: string; term: number; height: number; txs: number };
}

/** What the leader needs of its lane besides the warm state: its code and its upgrade policy. */
export interface LaneCode extends UpgradePolicy {
  /** The app code for the lane's active version here, or undefined when this replica lacks it. */
  app(): App | undefined;
}

export interface LeaderContext {
  lane: string;
  term: number;
  producer: string;
  code: LaneCode;
  runner: AppRunner;
  store: LedgerStore;
  follower: LaneFollower;
  waker: Waker;
  limits: LeaderLimits;
  logger: Logger;
  events: TypedEvents<LeaderEvents>;
  /** True while the elector can still vouch for this term (renewed within the renew deadline). */
  stillLeads: () => boolean;
  /**
   * The lane's height when the term was claimed: final for every older term. A warm follower
   * already there needs no catch-up query before the first block.
   */
  claimedHeight?: number;
  /**
   * The lane's pending transactions read while the term was being claimed, valid only when no
   * block was added meanwhile (the claim's height is the one the read started from): the first
   * block then needs no query of its own.
   */
  firstPending?: PendingTx[] | null;
}

/** 'upgraded': the lane now runs an app version this replica does not have. */
export type LeaderExit = 'stopped' | 'fenced' | 'lost' | 'upgraded';

/**
 * Applies pending transactions on top of the warm state and returns the block to commit, or
 * null when this replica lacks the code of the lane's active version. The block switches the lane
 * to a proposed version when its upgrade is due (see `dueUpgrade`).
 */
export function buildBlock(ctx: LeaderContext, pending: readonly PendingTx[]): BlockRecord | null {
  const base = ctx.follower.current;
  const app = ctx.code.app();
  if (!app) return null;
  const height = base.height + 1;
  const time = new Date(Math.max(Date.now(), base.tipTimeMs)).toISOString();
  const overlay = base.overlay();
  const results = executeTxs({ app, policy: ctx.code, runner: ctx.runner }, overlay, pending, height, time);
  const upgrade = dueUpgrade(overlay, app.version, ctx.code);
  // Approvals count for one proposal: a later proposal of the same version starts from none.
  if (upgrade !== null && ctx.code.quorum > 0) overlay.set(approvalsKey(upgrade), []);
  const unhashed = {
    lane: ctx.lane,
    height,
    parentHash: base.tipHash,
    term: ctx.term,
    producer: ctx.producer,
    time,
    version: app.version,
    ...(upgrade !== null ? { upgrade } : {}),
    txs: pending.map((t) => t.id),
    results,
    changes: overlay.changes(),
  };
  return { ...unhashed, hash: blockHash(unhashed) };
}

/**
 * `buildBlock` over the warm state, reading keys it does not hold yet (a large lane) between
 * passes; built again from scratch if the tip moved meanwhile.
 */
export async function produceBlock(
  ctx: LeaderContext,
  pending: readonly PendingTx[],
): Promise<BlockRecord | null> {
  const base = ctx.follower.current;
  for (;;) {
    const height = base.height;
    const block = await base.resolve(() => buildBlock(ctx, pending));
    if (base.height === height) return block;
  }
}

/** Whether the lane is due to switch versions, so a block (empty if need be) should be produced now. */
async function upgradeDue(ctx: LeaderContext): Promise<boolean> {
  const app = ctx.code.app();
  if (app === undefined || ctx.code.proposedVersion === null) return false;
  const state = ctx.follower.current;
  return state.resolve(() => dueUpgrade(state, app.version, ctx.code) !== null);
}

/**
 * Produces one lane's blocks for one term until `signal` aborts or the database fences the term.
 * The term must already be claimed in the database (`claimTerm`) before this starts.
 */
export async function runLeader(ctx: LeaderContext, signal: AbortSignal): Promise<LeaderExit> {
  let failures = 0;
  let needsCatchUp = !(ctx.follower.loaded && ctx.follower.height === ctx.claimedHeight);
  let prefetched = needsCatchUp ? null : (ctx.firstPending ?? null);
  // Whether the last read may have left transactions behind. When it did not, only a new
  // transaction's notification (or the progress poll, should one be lost) can add work, so the
  // loop waits for one instead of asking the database again after every block.
  let mayHaveMore = true;
  while (!signal.aborted) {
    try {
      if (needsCatchUp) {
        await ctx.follower.catchUp();
        needsCatchUp = false;
      }
      if (!mayHaveMore) {
        await ctx.waker.wait(ctx.limits.idleWaitMs, signal);
        if (signal.aborted) break;
      }
      // A transaction committed after this point wakes the waker after this point too.
      if (!prefetched) ctx.waker.clear();
      const pending = prefetched ?? (await ctx.store.pending(ctx.lane, ctx.limits.maxBlockTxs));
      // A prefetched read is older than the waker's state: read again after its block.
      mayHaveMore = prefetched !== null || pending.length >= ctx.limits.maxBlockTxs;
      prefetched = null;
      if (pending.length === 0 && !(await upgradeDue(ctx))) continue;
      const block = await produceBlock(ctx, pending);
      if (!block) return 'upgraded';
      if (signal.aborted) break;
      if (!ctx.stillLeads()) return 'lost';
      await ctx.store.commitBlock(block);
      ctx.follower.offer(block);
      ctx.events.emit('block:committed', {
        lane: ctx.lane,
        term: ctx.term,
        height: block.height,
        txs: block.txs.length,
      });
      failures = 0;
      if (block.upgrade !== undefined) {
        ctx.logger.info('lane switched app version', {
          from: block.version,
          to: block.upgrade,
          height: block.height,
        });
        if (!ctx.code.app()) return 'upgraded';
      }
    } catch (error) {
      const code = sqlState(error);
      if (code === SQLSTATE.fenced) {
        ctx.logger.warn('commit fenced: a newer term exists', { error });
        return 'fenced';
      }
      // Not on the tip, or an outcome we cannot know (connection lost mid-commit): re-read the tip.
      needsCatchUp = true;
      failures++;
      mayHaveMore = true;
      const expected =
        isConnectionError(error) ||
        code === SQLSTATE.notOnTip ||
        code === SQLSTATE.wrongVersion ||
        code === SQLSTATE.notProposed;
      const level = expected ? 'warn' : 'error';
      ctx.logger[level]('block production failed, retrying', { error, code, failures });
      await sleep(backoffMs(failures, 20, 1_000), signal);
    }
  }
  return 'stopped';
}
