/**
 * The streams section's commit clock, on a thread of its own so that the subscribers' traffic
 * never delays it: listens for the lane's commit notifications, also polls its new blocks every
 * ~2 ms straight from the database, and posts each height with the time it was first seen either
 * way, in ms since the epoch with sub-millisecond precision (performance.timeOrigin + performance.now(), comparable across threads).
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
const listener = new pg.Client({ connectionString: databaseUrl });
await db.connect();
await listener.connect();
let tip = from;
/** Reports heights above the tip, all first seen now. */
const seen = (heights: number[]): void => {
  const at = performance.timeOrigin + performance.now();
  const fresh = heights.filter((h) => h > tip).sort((a, b) => a - b);
  if (fresh.length === 0) return;
  tip = fresh[fresh.length - 1]!;
  parentPort!.postMessage({
    type: 'seen',
    heights: fresh.map((h): [number, number] => [h, at]),
  } satisfies FromCommitWatch);
};
// A commit's notification reaches every listener at commit; the poll covers any it might miss.
listener.on('notification', (m) => {
  const payload = m.payload ?? '';
  const sep = payload.lastIndexOf(':');
  if (payload.slice(0, sep) === lane) seen([Number(payload.slice(sep + 1))]);
});
await listener.query('LISTEN baton_blocks');
try {
  while (!stopped) {
    const { rows } = await db.query<{ height: string }>(
      'SELECT height FROM baton_blocks WHERE lane = $1 AND height > $2 ORDER BY height',
      [lane, tip],
    );
    seen(rows.map((r) => Number(r.height)));
    await sleep(2);
  }
} finally {
  await listener.end();
  await db.end();
  parentPort!.postMessage({ type: 'stopped' } satisfies FromCommitWatch);
}
