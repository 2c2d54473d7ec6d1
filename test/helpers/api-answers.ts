import { ERRORS, isErrorCode } from '../../src/errors.js';
import type { Answer } from './http.js';

function shown(answer: Answer): string {
  return `${answer.status} ${JSON.stringify(answer.text.slice(0, 300))}`;
}

/**
 * Why `answer` breaks the public error contract, or undefined when it keeps it: there is an
 * answer, it is never a 5xx, and every 4xx carries `{"error":{"code","message"}}` as JSON with a
 * code from the catalogue and that code's status. A HEAD answer has no body to check.
 */
export function contractViolation(answer: Answer, method: string): string | undefined {
  if (answer.status === 0) return 'the connection closed without an answer';
  if (answer.status >= 500) return `a 5xx: ${shown(answer)}`;
  if (answer.status < 400 || method.toUpperCase() === 'HEAD') return undefined;
  if (!/^application\/json/.test(String(answer.headers['content-type'])))
    return `an error that is not JSON (content-type ${String(answer.headers['content-type'])}): ${shown(answer)}`;
  let payload: unknown;
  try {
    payload = JSON.parse(answer.text);
  } catch {
    return `an error body that does not parse: ${shown(answer)}`;
  }
  const error = (payload as { error?: unknown } | null)?.error as
    { code?: unknown; message?: unknown } | undefined;
  const shapeOk =
    typeof payload === 'object' &&
    payload !== null &&
    Object.keys(payload).join() === 'error' &&
    typeof error === 'object' &&
    error !== null &&
    Object.keys(error).sort().join() === 'code,message';
  if (!shapeOk) return `an error body not shaped {"error":{"code","message"}}: ${shown(answer)}`;
  if (!isErrorCode(error.code)) return `an error code outside the catalogue: ${shown(answer)}`;
  if (ERRORS[error.code].status !== answer.status)
    return `code ${error.code} with status ${answer.status}, the catalogue says ${ERRORS[error.code].status}`;
  if (typeof error.message !== 'string' || error.message.length === 0)
    return `an error without a message: ${shown(answer)}`;
  return undefined;
}

/** The error code of a coded answer, if it has one. */
export function errorCode(answer: Answer): string | undefined {
  try {
    const code = (JSON.parse(answer.text) as { error?: { code?: unknown } } | null)?.error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}
