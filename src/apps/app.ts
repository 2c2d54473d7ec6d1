/** A JSON value an app may keep in its state: integers only (safe ones), no NaN, no cycles. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Read access to a lane's state (keys are strings, values JSON). Values are frozen. */
export interface AppReadState {
  get(key: string): JsonValue | undefined;
}

/** Keyed state as an app sees it while it applies one transaction. */
export interface AppState extends AppReadState {
  set(key: string, value: JsonValue): void;
}

/** One transaction as `apply` sees it. Everything in it is the same on every replica. */
export interface TxContext {
  /** Hex SHA-256 of the signed body. */
  id: string;
  /** The signer: raw ed25519 public key, lower-case hex. */
  from: string;
  kind: string;
  args: unknown;
  /** Height of the block that includes the transaction. */
  height: number;
  /** The block's time (ISO-8601 UTC): the app's only clock; never read the wall clock. */
  time: string;
}

export type ApplyResult = { ok: true; result?: JsonValue } | { ok: false; error: string };

/** A named read over the lane's state: deterministic, no writes. */
export type AppQuery = (state: AppReadState, args: unknown) => JsonValue;

/**
 * A deterministic state machine run by a lane: the contract an app module's default export
 * fulfils.
 * - `validate(kind, args)` runs at intake on every replica (stateless checks). Throwing refuses
 *   the submission with 400: `unknown_kind` when the error's `code` is "unknown_kind", else
 *   `bad_args`, with the error's message.
 * - `apply(state, tx)` runs on the leader inside block production and must depend only on
 *   `state` and `tx`. A transaction whose `apply` throws, runs past its time budget, returns
 *   something else than an ApplyResult or writes a value a block cannot encode is committed as
 *   refused (`ok: false`) and leaves the state as it was.
 * - `queries` are named reads served by `GET /v1/lanes/{lane}/query/{name}?args=JSON`.
 */
export interface App {
  readonly name: string;
  /** This code's version. A lane runs one version at a time; see upgrades. */
  readonly version: string;
  validate(kind: string, args: unknown): void;
  apply(state: AppState, tx: TxContext): ApplyResult;
  readonly queries?: Readonly<Record<string, AppQuery>>;
}
