import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { BatonError } from '../errors.js';
import { LANE_NAME } from '../ledger/envelope.js';

/** Largest request body read, in bytes. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export function sendJson(res: ServerResponse, status: number, payload: unknown): void {
  if (res.headersSent) return;
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendError(res: ServerResponse, error: BatonError): void {
  if (error.status === 413) res.setHeader('connection', 'close');
  sendJson(res, error.status, error.toJSON());
}

/**
 * Answers a coded error on a socket Node has handed over (an upgrade or CONNECT request), then
 * destroys it once the answer is flushed. Nothing reads such a socket any more, so waiting for
 * the peer to close it could wait forever, and the HTTP server neither tracks nor closes it:
 * one such socket would hold up the server's close, and with it a replica's graceful stop.
 */
export function refuseSocket(socket: Duplex, error: BatonError): void {
  const body = JSON.stringify(error.toJSON());
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? error.code}\r\nconnection: close\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Reads the whole body up to `limit` bytes, refusing larger bodies before buffering them. */
export async function readBody(req: IncomingMessage, limit = MAX_REQUEST_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new BatonError('body_too_large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BatonError('body_too_large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const raw = await readBody(req);
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BatonError('bad_json');
  }
}

/** The request target as a URL; a target Node accepts but URL() does not is a bad request. */
export function requestUrl(target: string | undefined): URL {
  try {
    return new URL(target ?? '/', 'http://replica');
  } catch {
    throw new BatonError('bad_request', 'the request target is not a valid URL');
  }
}

/** A percent-decoded path segment; malformed encoding is a bad request. */
export function pathSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new BatonError('bad_request', 'malformed percent-encoding in the URL');
  }
}

/** The entry of lane `name` in `lanes`, or unknown_lane. */
export function findLane<T>(lanes: ReadonlyMap<string, T>, name: string): T {
  const lane = LANE_NAME.test(name) ? lanes.get(name) : undefined;
  if (lane === undefined) throw new BatonError('unknown_lane', `no lane "${name.slice(0, 80)}"`);
  return lane;
}

/** Parses an optional non-negative integer query parameter. */
export function intParam(
  value: string | null,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === null || value === '') return fallback;
  if (!/^\d{1,16}$/.test(value)) throw new BatonError('bad_request', `${name} must be an integer`);
  const n = Number(value);
  if (n < min || n > max) throw new BatonError('bad_request', `${name} must be between ${min} and ${max}`);
  return n;
}
