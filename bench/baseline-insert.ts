import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { CpuMeter, withChildren, type CpuUse } from './cpu.js';
import type { BenchEnv } from './env.js';
import { Progress } from './progress.js';
import { summarize, type Summary } from './stats.js';

export interface RawInsertOptions {
  durationS: number;
  connections: number;
  bodyBytes: number;
}

export interface RawInsertResult extends RawInsertOptions {
  rows: number;
  rowsPerSec: number;
  /** Round trip of one autocommit INSERT (includes the WAL flush). */
  commitMs: Summary | null;
  cpu: CpuUse;
}

/**
 * The machine's ceiling for durable intake: `connections` clients each committing one
 * ~`bodyBytes` row per transaction (autocommit INSERT, fsync on) for a fixed time.
 */
export async function rawInsertBaseline(env: BenchEnv, options: RawInsertOptions): Promise<RawInsertResult> {
  const progress = new Progress('throughput');
  progress.update(`baseline: raw INSERT, ${options.connections} connections, ${options.durationS} s`);
  const url = await env.database('raw');
  const clients = Array.from({ length: options.connections }, () => new pg.Client({ connectionString: url }));
  try {
    await Promise.all(clients.map((c) => c.connect()));
    await clients[0]!.query('CREATE TABLE bench_raw (id bigint PRIMARY KEY, body text NOT NULL)');
    const cpu = new CpuMeter({ postgres: () => withChildren(env.postgresPid) });
    const samples: number[] = [];
    let rows = 0;
    let measuring = false;
    let stopping = false;
    const worker = async (c: pg.Client, index: number): Promise<void> => {
      const body = randomBytes(Math.ceil((options.bodyBytes * 3) / 4))
        .toString('base64')
        .slice(0, options.bodyBytes);
      for (let i = 0; !stopping; i++) {
        const started = performance.now();
        await c.query({
          name: 'bench-raw-insert',
          text: 'INSERT INTO bench_raw (id, body) VALUES ($1, $2)',
          values: [index * 1e9 + i, body],
        });
        if (measuring) {
          rows++;
          if ((i & 7) === 0) samples.push(performance.now() - started);
        }
      }
    };
    const running = clients.map((c, i) => worker(c, i));
    await new Promise((r) => setTimeout(r, 1_000)); // warm-up: connections, plans, first WAL segment
    const started = performance.now();
    measuring = true;
    cpu.start();
    await new Promise((r) => setTimeout(r, options.durationS * 1000));
    measuring = false;
    const elapsed = (performance.now() - started) / 1000;
    const use = cpu.stop();
    stopping = true;
    await Promise.all(running);
    const rowsPerSec = rows / elapsed;
    progress.done(`baseline: ${Math.round(rowsPerSec)} rows/s`);
    return { ...options, rows, rowsPerSec, commitMs: summarize(samples), cpu: use };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}
