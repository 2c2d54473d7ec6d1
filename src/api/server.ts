import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { BatonError } from '../errors.js';
import type { Logger } from '../log.js';
import { isConnectionError } from '../db/pool.js';
import type { ApiContext } from './context.js';
import { refuseSocket, requestUrl, sendError } from './http.js';
import { route } from './routes.js';
import { settlesWithin } from '../time.js';

export interface ApiServer {
  server: Server;
  url: string;
  /**
   * Stops accepting connections and tells keep-alive clients to reconnect elsewhere
   * (`connection: close`); in-flight requests finish, and whatever is still open after
   * `timeoutMs` is cut.
   */
  close(timeoutMs?: number): Promise<void>;
  /** Keeps serving, but every response now carries `connection: close` so clients reconnect elsewhere. */
  beginDrain(): void;
}

const CLIENT_ERROR_BODY = JSON.stringify(new BatonError('bad_request', 'malformed HTTP request').toJSON());
const CLIENT_ERROR_RESPONSE =
  'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n' +
  `content-length: ${Buffer.byteLength(CLIENT_ERROR_BODY)}\r\n\r\n${CLIENT_ERROR_BODY}`;

function toBatonError(error: unknown, logger: Logger): BatonError {
  if (error instanceof BatonError) return error;
  if (isConnectionError(error)) return new BatonError('unavailable');
  logger.error('request failed', { error, stack: error instanceof Error ? error.stack : undefined });
  return new BatonError('internal');
}

export async function startApiServer(
  ctx: ApiContext,
  host: string,
  port: number,
  logger: Logger,
): Promise<ApiServer> {
  let closing = false;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    res.setHeader('x-baton-replica', ctx.replicaId);
    // Browser apps use the SDK directly; the API uses no cookies or ambient credentials.
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-expose-headers', 'x-baton-replica');
    if (closing) res.setHeader('connection', 'close');
    // Checked here rather than by Node (requireHostHeader), whose 400 has no coded body.
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      sendError(res, new BatonError('bad_request', 'an HTTP/1.1 request needs a Host header'));
      return;
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': 'content-type, authorization',
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    try {
      const url = requestUrl(req.url);
      const { handler, params } = route(ctx, req.method ?? 'GET', url);
      await handler(ctx, req, res, params);
    } catch (error) {
      sendError(res, toBatonError(error, logger));
    }
  };
  const server = createServer(
    { keepAliveTimeout: 65_000, requestTimeout: 30_000, requireHostHeader: false },
    (req, res) => void handle(req, res),
  );
  // Without this listener Node answers any Expect other than 100-continue itself, with an
  // empty 417 outside the error contract.
  server.on('checkExpectation', (_req, res: ServerResponse) => {
    res.setHeader('x-baton-replica', ctx.replicaId);
    sendError(res, new BatonError('expectation_failed'));
  });
  // Without this listener Node drops CONNECT requests without an answer.
  server.on('connect', (_req, socket: Duplex) =>
    refuseSocket(socket, new BatonError('method_not_allowed', 'CONNECT is not supported')),
  );
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end(CLIENT_ERROR_RESPONSE);
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${shownHost}:${address.port}`,
    beginDrain: () => {
      closing = true;
    },
    close: async (timeoutMs = 10_000) => {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (!(await settlesWithin(closed, timeoutMs))) {
        logger.warn('requests still open after the drain timeout; closing them', { timeoutMs });
        server.closeAllConnections();
        await closed;
      }
    },
  };
}
