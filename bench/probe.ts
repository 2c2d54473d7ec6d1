import http from 'node:http';

/**
 * The benchmark's own HTTP client for measurements (blocks, cluster view, readiness), on a
 * connection pool of its own: the SDK load uses the global fetch pool, and a measurement must
 * never queue behind a backlog of load requests.
 */
export class Probe {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  /** GET `url`; resolves with the status and the parsed JSON body (null when not JSON). */
  get<T>(url: string, timeoutMs: number): Promise<{ status: number; body: T | null }> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          let body: T | null = null;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
    });
  }

  /** GET `url`, failing unless the answer is 200 with a JSON body. */
  async json<T>(url: string, timeoutMs: number): Promise<T> {
    const { status, body } = await this.get<T>(url, timeoutMs);
    if (status !== 200 || body === null) throw new Error(`GET ${url}: HTTP ${status}`);
    return body;
  }

  /** /readyz answers 200 within `timeoutMs`. */
  async ready(baseUrl: string, timeoutMs = 1_000): Promise<boolean> {
    return this.get(`${baseUrl}/readyz`, timeoutMs).then(
      (r) => r.status === 200,
      () => false,
    );
  }

  close(): void {
    this.agent.destroy();
  }
}
