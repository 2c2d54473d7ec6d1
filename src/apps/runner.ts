import vm from 'node:vm';
import type { App, AppReadState, AppState, ApplyResult, JsonValue, TxContext } from './app.js';
import { AppValueError, checkKey, encodableCopy } from './values.js';

/** What a transaction did, as a block records it. */
export type TxOutcome = { ok: true; result?: JsonValue } | { ok: false; error: string };

/** A state an app's writes go to, which can roll back to a checkpoint. */
export interface ScratchState extends AppReadState {
  set(key: string, value: JsonValue): void;
  checkpoint(): number;
  restore(checkpoint: number): void;
}

/**
 * One transaction to apply: by the app, by Baton itself (reserved kinds), or refused outright
 * (its stored body does not parse).
 */
export type TxToApply =
  { tx: TxContext } | { baton: (state: ScratchState) => TxOutcome } | { refused: string };

/** Default time budget of one transaction's `apply` (and of one query). */
export const DEFAULT_APPLY_BUDGET_MS = 200;
const MAX_ERROR_CHARS = 200;

function errorText(error: unknown): string {
  let text: unknown;
  try {
    text = error instanceof Error ? error.message : error;
  } catch {
    text = undefined; // a message getter that throws
  }
  if (typeof text !== 'string' || text.length === 0) text = 'apply failed';
  return ((text as string).split('\u0000').join('') || 'apply failed').slice(0, MAX_ERROR_CHARS);
}

/** Checks what `apply` returned; anything but an ApplyResult refuses the transaction. */
function outcome(returned: unknown): TxOutcome {
  if (typeof returned !== 'object' || returned === null)
    return { ok: false, error: 'apply must return {ok: true} or {ok: false, error}' };
  if (typeof (returned as { then?: unknown }).then === 'function')
    return { ok: false, error: 'apply must be synchronous (it returned a promise)' };
  const r = returned as Partial<ApplyResult> & { result?: unknown; error?: unknown };
  if (r.ok === true) {
    if (r.result === undefined) return { ok: true };
    return { ok: true, result: encodableCopy(r.result, 'result') };
  }
  if (r.ok === false)
    return { ok: false, error: errorText(typeof r.error === 'string' ? r.error : 'refused') };
  return { ok: false, error: 'apply must return {ok: true} or {ok: false, error}' };
}

/**
 * Runs foreign app code so that nothing it does can stall a lane: every transaction gets a time
 * budget (enforced by V8, so an endless loop is cut off too), writes are checked and copied
 * (frozen) as they are made, and anything that goes wrong refuses only that transaction.
 */
export class AppRunner {
  private readonly context = vm.createContext({ step: (): void => undefined });
  private readonly script = new vm.Script('step()');

  constructor(readonly budgetMs = DEFAULT_APPLY_BUDGET_MS) {}

  /**
   * Applies `txs` in order on `state`, each refused (and rolled back) on its own. Work runs in
   * slices of at most one budget: a slice stops taking transactions after half a budget, and a
   * transaction cut off by the budget is tried again alone at the start of a slice before it is
   * refused, so every transaction gets at least one full budget.
   */
  applyAll(app: App, state: ScratchState, txs: readonly TxToApply[]): TxOutcome[] {
    const results: TxOutcome[] = new Array<TxOutcome>(txs.length);
    const guarded: AppState = {
      get: (key) => state.get(key),
      set: (key, value) => state.set(checkKey(key), encodableCopy(value)),
    };
    let next = 0;
    let current = -1;
    let checkpoint = 0;
    const slice = (first: number): void => {
      const started = performance.now();
      while (next < txs.length) {
        if (next > first && performance.now() - started > this.budgetMs / 2) return;
        current = next;
        checkpoint = state.checkpoint();
        results[next] = this.applyOne(app, guarded, state, checkpoint, txs[next]!);
        next++;
      }
    };
    while (next < txs.length) {
      const first = next;
      this.context['step'] = () => slice(first);
      try {
        this.script.runInContext(this.context, { timeout: this.budgetMs });
      } catch (error) {
        if ((error as { code?: string }).code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw error;
        state.restore(checkpoint);
        if (current === first) {
          results[current] = { ok: false, error: `apply ran past its time budget of ${this.budgetMs} ms` };
          next = current + 1;
        } else {
          next = current; // cut off late in a slice: give it a slice of its own
        }
      }
    }
    return results;
  }

  private applyOne(
    app: App,
    guarded: AppState,
    state: ScratchState,
    checkpoint: number,
    item: TxToApply,
  ): TxOutcome {
    if ('refused' in item) return { ok: false, error: item.refused };
    let result: TxOutcome;
    try {
      result = 'baton' in item ? item.baton(state) : outcome(app.apply(guarded, item.tx));
    } catch (error) {
      result = { ok: false, error: errorText(error) };
    }
    // A refused transaction is committed with ok: false and leaves the state as it was.
    if (!result.ok) state.restore(checkpoint);
    return result;
  }

  /** Runs a named query of `app` over `state` within the budget. */
  query(app: App, name: string, state: AppReadState, args: unknown): JsonValue {
    const query = app.queries?.[name];
    if (!query || !Object.hasOwn(app.queries ?? {}, name))
      throw new QueryError('unknown', `no query "${name}"`);
    let value: unknown;
    this.context['step'] = () => {
      value = query({ get: (key) => state.get(key) }, args);
    };
    try {
      this.script.runInContext(this.context, { timeout: this.budgetMs });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT')
        throw new QueryError('timeout', `the query ran past its time budget of ${this.budgetMs} ms`);
      throw new QueryError('failed', errorText(error));
    }
    try {
      return encodableCopy(value, 'query result');
    } catch (error) {
      throw new QueryError('failed', (error as AppValueError).message);
    }
  }
}

export class QueryError extends Error {
  constructor(
    readonly kind: 'unknown' | 'timeout' | 'failed',
    message: string,
  ) {
    super(message);
    this.name = 'QueryError';
  }
}
