import { BatonError } from '../errors.js';
import { HEX32 } from '../ledger/keys.js';
import type { App, AppReadState, AppState, ApplyResult, TxContext } from './app.js';

export const FAUCET_MAX = 1000;
export const SUPPLY_KEY = 'supply';

export function balanceKey(account: string): string {
  return `balance:${account.toLowerCase()}`;
}

interface FaucetArgs {
  amount: number;
}
interface TransferArgs {
  to: string;
  amount: number;
}

function exactKeys(args: unknown, keys: readonly string[]): args is Record<string, unknown> {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return false;
  const present = Object.keys(args);
  return present.length === keys.length && keys.every((k) => Object.hasOwn(args, k));
}

function isAmount(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= max;
}

function parseFaucet(args: unknown): FaucetArgs {
  if (!exactKeys(args, ['amount']) || !isAmount(args.amount, FAUCET_MAX)) {
    throw new BatonError('bad_args', `faucet takes {"amount": 1..${FAUCET_MAX}}`);
  }
  return { amount: args.amount };
}

function parseTransfer(args: unknown): TransferArgs {
  if (
    !exactKeys(args, ['to', 'amount']) ||
    typeof args.to !== 'string' ||
    !HEX32.test(args.to) ||
    !isAmount(args.amount, Number.MAX_SAFE_INTEGER)
  ) {
    throw new BatonError('bad_args', 'transfer takes {"to": HEX32, "amount": a positive integer}');
  }
  return { to: args.to.toLowerCase(), amount: args.amount };
}

function balance(state: AppReadState, account: string): number {
  const value = state.get(balanceKey(account));
  return typeof value === 'number' ? value : 0;
}

/** The built-in token app: `faucet {amount}` credits the signer, `transfer {to, amount}` moves funds. */
export const tokenApp: App = {
  name: 'token',
  version: '1.0.0',

  validate(kind: string, args: unknown): void {
    if (kind === 'faucet') parseFaucet(args);
    else if (kind === 'transfer') parseTransfer(args);
    else
      throw new BatonError('unknown_kind', `the token app has no kind ${JSON.stringify(kind).slice(0, 80)}`);
  },

  apply(state: AppState, tx: TxContext): ApplyResult {
    const from = tx.from.toLowerCase();
    if (tx.kind === 'faucet') {
      const { amount } = parseFaucet(tx.args);
      const supply = state.get(SUPPLY_KEY);
      state.set(balanceKey(from), balance(state, from) + amount);
      state.set(SUPPLY_KEY, (typeof supply === 'number' ? supply : 0) + amount);
      return { ok: true };
    }
    if (tx.kind === 'transfer') {
      const { to, amount } = parseTransfer(tx.args);
      const available = balance(state, from);
      if (available < amount) return { ok: false, error: 'insufficient_funds' };
      if (to === from) return { ok: true };
      state.set(balanceKey(from), available - amount);
      state.set(balanceKey(to), balance(state, to) + amount);
      return { ok: true };
    }
    return { ok: false, error: 'unknown_kind' };
  },

  queries: {
    /** `{account: HEX32}` → the account's balance (0 when it never held funds). */
    balance(state: AppReadState, args: unknown): number {
      if (!exactKeys(args, ['account']) || typeof args.account !== 'string' || !HEX32.test(args.account))
        throw new BatonError('bad_args', 'balance takes {"account": HEX32}');
      return balance(state, args.account);
    },
    /** The total supply: the sum of every committed faucet amount. */
    supply(state: AppReadState): number {
      const supply = state.get(SUPPLY_KEY);
      return typeof supply === 'number' ? supply : 0;
    },
  },
};
