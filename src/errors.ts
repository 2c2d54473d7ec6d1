/**
 * The catalogue of coded errors shared by the server and the SDK.
 * Codes are part of the public contract: never rename one, only add.
 */
export const ERRORS = {
  bad_json: { status: 400, message: 'the request body is not valid JSON' },
  body_too_large: { status: 413, message: 'the request body is too large' },
  bad_envelope: {
    status: 400,
    message: 'the envelope must be {"body": STRING, "signer": HEX32, "signature": HEX64}',
  },
  bad_signature: { status: 400, message: 'the signature does not verify against the signer and body' },
  bad_tx: { status: 400, message: 'the transaction body is not a valid transaction' },
  signer_mismatch: { status: 400, message: 'the transaction "from" must equal the signer' },
  wrong_lane: { status: 400, message: 'the transaction names a different lane than the URL' },
  unknown_lane: { status: 404, message: 'no such lane' },
  unknown_kind: { status: 400, message: 'the app does not know this transaction kind' },
  bad_args: { status: 400, message: 'the transaction arguments are invalid' },
  bad_request: { status: 400, message: 'the request is invalid' },
  not_found: { status: 404, message: 'not found' },
  method_not_allowed: { status: 405, message: 'method not allowed' },
  expectation_failed: { status: 417, message: 'the only supported expectation is 100-continue' },
  unauthorized: { status: 401, message: 'a valid bearer token is required' },
  overloaded: { status: 503, message: 'the replica is overloaded, retry shortly' },
  unavailable: { status: 503, message: 'the database is unavailable, retry shortly' },
  draining: { status: 503, message: 'the replica is draining, use another replica' },
  unknown_replica: { status: 404, message: 'no such live replica' },
  no_leader: { status: 409, message: 'the lane has no leader right now, retry shortly' },
  not_eligible: { status: 409, message: 'that replica cannot lead now' },
  timeout: { status: 504, message: 'the operation did not finish in time' },
  unknown_query: { status: 404, message: 'the lane\u2019s app has no such query' },
  app_unavailable: {
    status: 503,
    message: 'this replica does not run the lane\u2019s app version; use another replica',
  },
  version_unavailable: { status: 409, message: 'no ready replica runs that app version' },
  internal: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error that maps to a coded HTTP answer `{ "error": { "code", "message" } }`. */
export class BatonError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message?: string) {
    super(message ?? ERRORS[code].message);
    this.name = 'BatonError';
    this.code = code;
    this.status = ERRORS[code].status;
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}
