import { connect, type Socket } from 'node:net';

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d+)/i;
const CONNECTION_CLOSE = /\r\nconnection:\s*close/i;

interface Waiter {
  resolve: (status: number) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * One HTTP/1.1 keep-alive connection that sends one request at a time and reads only the
 * status line and Content-Length of the answer. A load generator on a 2-core machine competes
 * with the system under test for CPU; this costs a fraction of node:http's client per request.
 */
export class KeepAliveConnection {
  private socket: Socket | null = null;
  private buffered: Buffer = Buffer.alloc(0);
  private waiter: Waiter | null = null;
  private readonly hostHeader: string;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs = 10_000,
  ) {
    this.hostHeader = `${host}:${port}`;
  }

  /** POSTs `body` (JSON) to `path`; resolves with the HTTP status. */
  post(path: string, body: string): Promise<number> {
    if (this.waiter) return Promise.reject(new Error('a request is already in flight'));
    const socket = this.socket ?? this.open();
    const head =
      `POST ${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error('timeout')), this.timeoutMs);
      this.waiter = { resolve, reject, timer };
      socket.write(head + body);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private open(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = socket;
    this.buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => {
      if (this.socket === socket) this.socket = null;
      this.fail(Object.assign(new Error('connection closed'), { code: 'ECONNCLOSED' }));
    });
    return socket;
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const end = this.buffered.indexOf(HEADER_END);
    if (end < 0) return;
    const head = this.buffered.toString('latin1', 0, end);
    const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0);
    const total = end + HEADER_END.length + length;
    if (this.buffered.length < total) return;
    const status = Number(head.slice(9, 12));
    this.buffered = this.buffered.subarray(total);
    if (CONNECTION_CLOSE.test(head)) this.close();
    const waiter = this.waiter;
    this.waiter = null;
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(status);
    }
  }

  private fail(error: Error): void {
    const waiter = this.waiter;
    this.waiter = null;
    if (waiter) {
      clearTimeout(waiter.timer);
      this.close();
      waiter.reject(error);
    }
  }
}
