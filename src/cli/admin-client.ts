import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readAdminToken } from '../node/admin-token.js';
import { UsageError } from './args.js';

/** Options every admin command takes. */
export const ADMIN_OPTIONS = {
  url: { type: 'string' },
  'data-dir': { type: 'string' },
  'admin-token-file': { type: 'string' },
} as const;

export const ADMIN_OPTIONS_HELP = `  --url URL              any replica of the cluster (default: the replicas of "baton up" in D)
  --data-dir D           the "baton up" data directory (default ./.baton)
  --admin-token-file F   the bearer token (default D/admin-token, or env BATON_ADMIN_TOKEN)`;

export class AdminRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AdminRequestError';
  }
}

/** Talks to the admin API of whichever replica answers first. */
export class AdminClient {
  private constructor(
    private readonly urls: string[],
    private readonly token: string | null,
  ) {}

  static async fromOptions(values: {
    url?: string;
    'data-dir'?: string;
    'admin-token-file'?: string;
  }): Promise<AdminClient> {
    const dataDir = resolve(values['data-dir'] ?? '.baton');
    let urls = values.url ? [values.url] : [];
    if (urls.length === 0) {
      const file = join(dataDir, 'cluster.json');
      const text = await readFile(file, 'utf8').catch(() => {
        throw new UsageError(`no --url given and no running "baton up" found (${file})`);
      });
      urls = (JSON.parse(text) as { replicas: Array<{ url: string }> }).replicas.map((r) => r.url);
    }
    let token: string | null = process.env['BATON_ADMIN_TOKEN'] ?? null;
    if (values['admin-token-file']) token = await readAdminToken(values['admin-token-file']);
    else if (!token) token = await readAdminToken(join(dataDir, 'admin-token')).catch(() => null);
    return new AdminClient(urls, token);
  }

  get hasToken(): boolean {
    return this.token !== null;
  }

  /** One request; connection failures move on to the next replica, coded errors are thrown. */
  async request<T>(method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<T> {
    const failures: string[] = [];
    for (const url of this.urls) {
      let res: Response;
      try {
        res = await fetch(new URL(path, url), {
          method,
          headers: {
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        failures.push(`${url}: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      const payload = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
      if (res.ok) return payload as T;
      const code = payload.error?.code ?? 'http_error';
      const message = payload.error?.message ?? `HTTP ${res.status}`;
      if (res.status === 503) {
        failures.push(`${url}: ${message}`);
        continue;
      }
      const hint = res.status === 401 ? ' (check --admin-token-file)' : '';
      throw new AdminRequestError(res.status, code, `${message} [${code}]${hint}`);
    }
    throw new Error(`no replica answered:\n  ${failures.join('\n  ')}`);
  }
}
