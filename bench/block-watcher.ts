import type pg from 'pg';
import { sleep } from '../src/time.js';

/** Polls new blocks every 10 ms and remembers when each was first seen (≈ commit time) and its size. */
export class BlockWatcher {
  readonly seenAt = new Map<number, number>();
  readonly seen: Array<{ at: number; txs: number }> = [];
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: pg.Client,
    private readonly lane: string,
  ) {}

  start(): void {
    this.loop = (async () => {
      let tip = 0;
      while (!this.stopped) {
        const { rows } = await this.db.query<{ height: string; n: number }>(
          'SELECT height, cardinality(tx_ids) AS n FROM baton_blocks WHERE lane = $1 AND height > $2 ORDER BY height',
          [this.lane, tip],
        );
        const now = Date.now();
        for (const r of rows) {
          tip = Number(r.height);
          this.seenAt.set(tip, now);
          this.seen.push({ at: now, txs: r.n });
        }
        await sleep(10);
      }
    })();
  }

  /** Committed transactions in each whole second of [from, to). */
  perSecond(from: number, to: number): number[] {
    const buckets = new Array<number>(Math.floor((to - from) / 1000)).fill(0);
    for (const b of this.seen) {
      const i = Math.floor((b.at - from) / 1000);
      if (b.at >= from && i < buckets.length) buckets[i]! += b.txs;
    }
    return buckets;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

/**
 * Submit → commit latencies of sampled transactions (`[id, send time]`): waits up to 20 s until
 * each sample that has a height in `db` has one whose block `watcher` has seen, stops the
 * watcher, and returns, per sample it saw committed, that sighting minus the send time.
 */
export async function commitLatencies(
  db: pg.Client,
  watcher: BlockWatcher,
  samples: ReadonlyArray<readonly [string, number]>,
): Promise<number[]> {
  const sampleIds = samples.map(([id]) => id);
  const heights = new Map<string, number>();
  const drainBy = Date.now() + 20_000;
  while (Date.now() < drainBy) {
    const { rows } = await db.query<{ id: string; height: string | null }>(
      'SELECT id, height FROM baton_txs WHERE id = ANY($1::text[])',
      [sampleIds],
    );
    for (const r of rows) if (r.height !== null) heights.set(r.id, Number(r.height));
    if (heights.size >= rows.length && [...heights.values()].every((h) => watcher.seenAt.has(h))) break;
    await sleep(100);
  }
  await watcher.stop();
  return samples.flatMap(([id, at]) => {
    const seen = watcher.seenAt.get(heights.get(id) ?? -1);
    return seen === undefined ? [] : [seen - at];
  });
}
