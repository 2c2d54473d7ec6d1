/**
 * The streams section's commit clock, on a thread of its own so that the subscribers' traffic on
 * the main thread never delays it: polls the lane's new blocks every ~2 ms straight from the
 * database and posts each height with the time it was first seen, in ms since the epoch with
 * sub-millisecond precision (performance.timeOrigin + performance.now(), comparable across threads).
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { sleep } from '../src/time.js';

export interface CommitWatchData {
  databaseUrl: string;
  lane: string;
  from: number;
}

export type FromCommitWatch = { type: 'seen'; heights: Array<[number, number]> } | { type: 'stopped' };

const { databaseUrl, lane, from } = workerData as CommitWatchData;
let stopped = false;
parentPort!.on('message', (m: { type: 'stop' }) => {
  if (m.type === 'stop') stopped = true;
});

const db = new pg.Client({ connectionString: databaseUrl });
await db.connect();
try {
  let tip = from;
  while (!stopped) {
    const { rows } = await db.query<{ height: string }>(
      'SELECT height FROM baton_blocks WHERE lane = $1 AND height > $2 ORDER BY height',
      [lane, tip],
    );
    const at = performance.timeOrigin + performance.now();
    if (rows.length > 0) {
      const heights = rows.map((r): [number, number] => [Number(r.height), at]);
      tip = heights[heights.length - 1]![0];
      parentPort!.postMessage({ type: 'seen', heights } satisfies FromCommitWatch);
    }
    await sleep(2);
  }
} finally {
  await db.end();
  parentPort!.postMessage({ type: 'stopped' } satisfies FromCommitWatch);
}
