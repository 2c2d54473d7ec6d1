import type { App } from '../apps/app.js';
import type { AppRunner, ScratchState, TxToApply } from '../apps/runner.js';
import type { TxResult } from './block.js';
import { parseBody } from './envelope.js';
import { APPROVE_KIND, applyApproval, isReservedKind, type UpgradePolicy } from './upgrades.js';

/** The code a block's transactions run with. */
export interface Execution {
  app: App;
  policy: UpgradePolicy;
  runner: AppRunner;
}

/**
 * Runs a block's transactions, in order, on `state`: Baton's reserved kinds itself, the rest by
 * the app (under the runner's budget and checks). A leader builds blocks with it, and a verifying
 * follower runs it again to compare.
 */
export function executeTxs(
  { app, policy, runner }: Execution,
  state: ScratchState,
  txs: ReadonlyArray<{ id: string; body: string }>,
  height: number,
  time: string,
): TxResult[] {
  const items = txs.map((tx): TxToApply => {
    let body;
    try {
      body = parseBody(tx.body);
    } catch (error) {
      return { refused: (error as Error).message };
    }
    if (isReservedKind(body.kind)) {
      if (body.kind !== APPROVE_KIND) return { refused: 'unknown_kind' };
      const { from, args } = body;
      return { baton: (s) => applyApproval(s, from, args, policy) };
    }
    return {
      tx: { id: tx.id, from: body.from.toLowerCase(), kind: body.kind, args: body.args, height, time },
    };
  });
  return runner.applyAll(app, state, items);
}
