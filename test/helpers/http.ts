import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';

/** One HTTP answer; `status` is 0 when the server closed the connection without answering. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface SendOptions {
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Send `body` with chunked transfer encoding (no content-length), in pieces of this many bytes. */
  chunkBytes?: number;
  agent?: http.Agent;
  /** Fails the request when no answer arrives in time (default 10 s), so a stuck server fails a test. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * One HTTP request with node:http, so paths go out byte for byte and a server that answers
 * early and closes (413) is handled: writing stops once the answer arrives, and errors on the
 * socket after the answer are ignored. An accepted protocol upgrade (101) or tunnel (CONNECT
 * 200) is answered as such and its socket closed.
 */
export function send(
  baseUrl: string,
  method: string,
  path: string,
  options: SendOptions = {},
): Promise<Answer> {
  const base = new URL(baseUrl);
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers: Record<string, string> = { ...options.headers };
  const has = (name: string) => Object.keys(headers).some((h) => h.toLowerCase() === name);
  if (body && options.chunkBytes === undefined && !has('content-length'))
    headers['content-length'] = String(body.length);
  if (body && !has('content-type')) headers['content-type'] = 'application/json';
  return new Promise<Answer>((resolve, reject) => {
    let answered = false;
    const req = http.request({
      host: base.hostname,
      port: base.port,
      method,
      path,
      headers,
      agent: options.agent ?? false,
    });
    req.setTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, () =>
      req.destroy(new Error(`no answer to ${method} ${path.slice(0, 200)} in time`)),
    );
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('upgrade', (res, socket) => {
      answered = true;
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, text: '' });
    });
    // Node hands over the socket of any answer to CONNECT, with the body unread.
    req.on('connect', (res, socket, head) => {
      answered = true;
      const chunks: Buffer[] = [head];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', () => undefined);
      socket.on('close', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString(),
        }),
      );
      if (res.statusCode === 200) socket.destroy();
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (!body) {
      req.end();
      return;
    }
    if (options.chunkBytes === undefined && body.length <= 1024 * 1024) {
      req.end(body);
      return;
    }
    const step = options.chunkBytes ?? 64 * 1024;
    void (async () => {
      for (let offset = 0; offset < body.length; offset += step) {
        if (answered || req.destroyed) return;
        if (!req.write(body.subarray(offset, offset + step))) {
          await new Promise<void>((r) => {
            const done = () => {
              req.off('drain', done);
              req.off('close', done);
              r();
            };
            req.once('drain', done);
            req.once('close', done);
          });
        }
      }
      if (!answered && !req.destroyed) req.end();
    })();
  });
}

/** Parses the first HTTP answer of `bytes` (interim 1xx answers skipped); status 0 when there is none. */
function parseAnswer(bytes: Buffer): Answer {
  let text = bytes.toString('latin1');
  for (;;) {
    const split = text.indexOf('\r\n\r\n');
    const head = (split < 0 ? text : text.slice(0, split)).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
    if (status >= 100 && status < 200 && status !== 101 && split >= 0) {
      text = text.slice(split + 4);
      continue;
    }
    const headers: IncomingHttpHeaders = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let rest = split < 0 ? '' : text.slice(split + 4);
    const length = Number(headers['content-length']);
    if (Number.isSafeInteger(length)) rest = rest.slice(0, length);
    return { status, headers, text: Buffer.from(rest, 'latin1').toString() };
  }
}

export interface RawOptions {
  /** Half-close the socket once `bytes` are written, as `nc -N` does. */
  halfClose?: boolean;
  timeoutMs?: number;
}

/**
 * Writes `bytes` as they are on a raw TCP socket (for requests node:http will not send) and
 * parses the first answer once the server closes the connection.
 */
export function rawExchange(
  baseUrl: string,
  bytes: Buffer | string,
  options: RawOptions = {},
): Promise<Answer> {
  const base = new URL(baseUrl);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise<Answer>((resolve, reject) => {
    const socket = net.connect(Number(base.port), base.hostname, () => {
      socket.write(bytes);
      if (options.halfClose) socket.end();
    });
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (error) => {
      // A server that answered, then reset the connection, still answered.
      if (chunks.length === 0) reject(error);
    });
    socket.on('close', () => resolve(parseAnswer(Buffer.concat(chunks))));
  });
}

/**
 * Writes `requestLine` and headers on a raw TCP socket (for request targets node:http will not
 * send) and parses the answer; the server is asked to close, so the answer ends at EOF.
 */
export function rawRequest(baseUrl: string, requestLine: string): Promise<Answer> {
  const base = new URL(baseUrl);
  return rawExchange(baseUrl, `${requestLine}\r\nhost: ${base.host}\r\nconnection: close\r\n\r\n`);
}

/** The answer's body as JSON, or a test failure naming the status and the start of the text. */
export function json(answer: Answer): unknown {
  try {
    return JSON.parse(answer.text) as unknown;
  } catch {
    assert.fail(`status ${answer.status}: the answer is not JSON: ${answer.text.slice(0, 200)}`);
  }
}
