import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ClusterView } from '../api/context.js';
import { parse } from './args.js';

export const STATUS_HELP = `baton status: the replicas and lanes of a cluster

usage: baton status [--url URL] [--data-dir D] [--json]

  --url URL      any replica of the cluster (default: the first replica of "baton up" in D)
  --data-dir D   the "baton up" data directory (default ./.baton)
  --json         print the raw /v1/cluster answer`;

export async function statusCommand(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    { url: { type: 'string' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' } },
    'status',
  );
  if (values.help) {
    console.log(STATUS_HELP);
    return;
  }
  let urls = values.url ? [values.url] : [];
  if (urls.length === 0) {
    const file = join(resolve(values['data-dir'] ?? '.baton'), 'cluster.json');
    const cluster = JSON.parse(
      await readFile(file, 'utf8').catch(() => {
        throw new Error(`no --url given and no running "baton up" found (${file})`);
      }),
    ) as { replicas: Array<{ url: string }> };
    urls = cluster.replicas.map((r) => r.url);
  }
  let view: ClusterView | null = null;
  for (const url of urls) {
    try {
      const res = await fetch(new URL('/v1/cluster', url), { signal: AbortSignal.timeout(3_000) });
      if (res.ok) {
        view = (await res.json()) as ClusterView;
        break;
      }
    } catch {
      // try the next replica
    }
  }
  if (!view) throw new Error(`no replica answered (${urls.join(', ')})`);
  if (values.json) {
    console.log(JSON.stringify(view, null, 2));
    return;
  }
  console.log('REPLICA     URL                         PID      VERSION  READY');
  for (const r of view.replicas) {
    console.log(
      `${r.id.padEnd(11)} ${r.url.padEnd(27)} ${String(r.pid).padEnd(8)} ${r.version.padEnd(8)} ${r.ready ? 'yes' : 'no'}`,
    );
  }
  console.log('\nLANE        LEADER      TERM     HEIGHT');
  for (const l of view.lanes) {
    console.log(
      `${l.lane.padEnd(11)} ${(l.leader ?? '-').padEnd(11)} ${String(l.term).padEnd(8)} ${l.height}`,
    );
  }
}
