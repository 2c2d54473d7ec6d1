import pg from 'pg';
import type { Logger } from '../log.js';
import { TypedEvents } from '../events.js';
import { backoffMs, settlesWithin, sleep } from '../time.js';
import { BatonError } from '../errors.js';

export interface DedicatedEvents extends Record<string, unknown> {
  up: { client: pg.Client };
  down: { error: unknown };
}

export interface DedicatedOptions {
  url: string;
  name: string;
  logger: Logger;
  /** Client-side timeout for every query on this connection. */
  queryTimeoutMs?: number;
}

/**
 * One long-lived connection that reconnects with back-off until its signal aborts.
 * Used where the session itself matters: the elector's session (whose death tells the
 * others this replica is gone) and the LISTEN connection.
 */
export class DedicatedConnection {
  readonly events = new TypedEvents<DedicatedEvents>();
  private client: pg.Client | null = null;

  constructor(private readonly options: DedicatedOptions) {}

  get connected(): boolean {
    return this.client !== null;
  }

  /**
   * Runs one query. With `name` the statement is prepared once per connection and only bound
   * and executed after that: for the statements a connection sends many times a second, whose
   * planning costs more than their execution.
   */
  async query<R extends pg.QueryResultRow>(
    text: string,
    values?: unknown[],
    name?: string,
  ): Promise<pg.QueryResult<R>> {
    const client = this.client;
    if (!client) throw new BatonError('unavailable');
    return name ? client.query<R>({ name, text, values }) : client.query<R>(text, values);
  }

  /** Ends the current connection (only if it is still `expected`, when given); `run` reconnects. */
  async restart(expected?: pg.Client): Promise<void> {
    const client = this.client;
    if (expected && client !== expected) return;
    this.client = null;
    if (client) await closeClient(client);
  }

  /** Runs until `signal` aborts; resolves after the connection is closed. */
  async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      const client = new pg.Client({
        connectionString: this.options.url,
        application_name: `baton:${this.options.name}`,
        keepAlive: true,
        connectionTimeoutMillis: 3_000,
        ...(this.options.queryTimeoutMs ? { query_timeout: this.options.queryTimeoutMs } : {}),
      });
      const ended = new Promise<unknown>((resolve) => {
        client.on('error', resolve);
        client.on('end', () => resolve(new Error('connection ended')));
      });
      try {
        await client.connect();
      } catch (error) {
        client.end().catch(() => undefined);
        attempt++;
        this.options.logger.warn('database connection failed', { conn: this.options.name, error, attempt });
        await sleep(backoffMs(attempt, 50, 1_000), signal);
        continue;
      }
      // Aborted while connecting: the abort listener below would never fire.
      if (signal.aborted) {
        await closeClient(client);
        break;
      }
      attempt = 0;
      this.client = client;
      this.events.emit('up', { client });
      const onAbort = (): void => void closeClient(client);
      signal.addEventListener('abort', onAbort, { once: true });
      const error = await ended;
      signal.removeEventListener('abort', onAbort);
      this.client = null;
      void closeClient(client);
      if (!signal.aborted) {
        this.options.logger.warn('database connection lost', { conn: this.options.name, error });
        this.events.emit('down', { error });
        await sleep(backoffMs(0, 50, 1_000), signal);
      }
    }
  }
}

/**
 * Ends a client, destroying its socket if the polite end does not finish in time:
 * over a dead network end() would wait for an answer that never comes.
 */
export async function closeClient(client: pg.Client, timeoutMs = 500): Promise<void> {
  const done = await settlesWithin(client.end(), timeoutMs);
  if (!done)
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
