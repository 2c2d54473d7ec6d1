/** A JSON value an app may keep in its state. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Keyed state as an app sees it while it applies one transaction. */
export interface AppState {
  get(key: string): JsonValue | undefined;
  set(key: string, value: JsonValue): void;
}

export interface TxInput {
  id: string;
  from: string;
  kind: string;
  args: unknown;
}

export type ApplyResult = { ok: true } | { ok: false; error: string };

/**
 * A deterministic state machine run by a lane. `validate` runs at intake on every replica
 * (stateless checks: throw a BatonError with code unknown_kind or bad_args); `apply` runs on
 * the leader inside block production and must depend only on `state` and `tx`.
 */
export interface App {
  readonly name: string;
  validate(kind: string, args: unknown): void;
  apply(state: AppState, tx: TxInput): ApplyResult;
}
