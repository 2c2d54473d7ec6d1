import type { AdminStatus } from '../api/context.js';
import { ADMIN_OPTIONS, ADMIN_OPTIONS_HELP, AdminClient } from './admin-client.js';
import { parse } from './args.js';

export const STATUS_HELP = `baton status: the replicas and lanes of a cluster (admin API)

usage: baton status [--json] [options]

  --json                 print the raw /v1/admin/status answer
${ADMIN_OPTIONS_HELP}`;

export async function statusCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { ...ADMIN_OPTIONS, json: { type: 'boolean' } }, 'status');
  if (values.help) return console.log(STATUS_HELP);
  const client = await AdminClient.fromOptions(values);
  const status = await client.request<AdminStatus>('GET', '/v1/admin/status');
  if (values.json) return console.log(JSON.stringify(status, null, 2));
  console.log(formatStatus(status));
}

export function formatStatus(status: AdminStatus): string {
  const replicas = table(
    ['REPLICA', 'URL', 'PID', 'VERSION', 'READY', 'PRIORITY', 'MODE', 'LANES LED', 'APPS'],
    status.replicas.map((r) => [
      r.id,
      r.url,
      String(r.pid),
      r.version,
      r.ready ? 'yes' : 'no',
      String(r.priority),
      r.mode,
      String(r.leads),
      Object.entries(r.apps ?? {})
        .map(([name, versions]) => `${name} ${versions.join('/')}`)
        .join(', '),
    ]),
  );
  // Why a replica is not ready, and blocks it found not to re-execute (--verify-blocks).
  const notes = status.replicas.flatMap((r) => [
    ...(r.reason && !r.ready ? [`${r.id}: not ready: ${r.reason}`] : []),
    ...(r.mismatches
      ? [`${r.id}: ${r.mismatches} block(s) did not re-execute to what they recorded (see its log)`]
      : []),
  ]);
  const lanes = table(
    ['LANE', 'APP', 'LEADER', 'TERM', 'HEIGHT', 'PENDING', 'LAST BLOCK'],
    status.lanes.map((l) => [
      l.lane,
      `${l.app} ${l.version ?? '-'}${l.proposedVersion ? ` (-> ${l.proposedVersion})` : ''}`,
      l.leader ?? '-',
      String(l.term),
      String(l.height),
      String(l.pending),
      l.lastBlockAgeMs === null ? '-' : `${age(l.lastBlockAgeMs)} ago`,
    ]),
  );
  return [replicas, ...(notes.length > 0 ? [notes.join('\n')] : []), lanes].join('\n\n');
}

function age(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
