import type { HandoverResult, CreatedLane } from '../api/admin.js';
import { ADMIN_OPTIONS, ADMIN_OPTIONS_HELP, AdminClient } from './admin-client.js';
import { parse, UsageError } from './args.js';

export const HANDOVER_HELP = `baton handover: move a lane's leadership now, by planned handover (no lease wait)

usage: baton handover LANE [--to REPLICA] [options]

  --to REPLICA           the new leader (default: the ready replica of the highest priority
                         that leads the fewest lanes)
${ADMIN_OPTIONS_HELP}

Waits until the new leader holds the lane and prints it. In active-passive mode the active
role moves as a whole: every lane goes to REPLICA.`;

export async function handoverCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { ...ADMIN_OPTIONS, to: { type: 'string' } }, 'handover');
  if (values.help) return console.log(HANDOVER_HELP);
  const [lane, ...extra] = positionals;
  if (!lane || extra.length > 0) throw new UsageError('usage: baton handover LANE [--to REPLICA]');
  const client = await AdminClient.fromOptions(values);
  const result = await client.request<HandoverResult>(
    'POST',
    `/v1/admin/lanes/${encodeURIComponent(lane)}/handover`,
    values.to ? { to: values.to } : {},
  );
  console.log(`lane ${result.lane}: ${result.from} -> ${result.to}, term ${result.term}`);
}

export const DRAIN_HELP = `baton drain: drain one replica (hand its lanes over, finish requests, exit)

usage: baton drain REPLICA [options]

${ADMIN_OPTIONS_HELP}

The replica reports not ready at once, hands each lane it leads to a chosen successor, closes
stream subscribers with code 1012 and exits. Under "baton up" the watchdog does not restart a
replica that exited cleanly after a drain.`;

export async function drainCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, ADMIN_OPTIONS, 'drain');
  if (values.help) return console.log(DRAIN_HELP);
  const [replica, ...extra] = positionals;
  if (!replica || extra.length > 0) throw new UsageError('usage: baton drain REPLICA');
  const client = await AdminClient.fromOptions(values);
  await client.request('POST', `/v1/admin/replicas/${encodeURIComponent(replica)}/drain`);
  console.log(`replica ${replica}: draining`);
}

export const LANES_HELP = `baton lanes: manage lanes at run time

usage: baton lanes create NAME [--app APP] [options]

  --app APP              the lane's app (default token)
${ADMIN_OPTIONS_HELP}

Every replica starts serving a new lane at once; one of them is elected its leader.`;

export async function lanesCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { ...ADMIN_OPTIONS, app: { type: 'string' } }, 'lanes');
  if (values.help) return console.log(LANES_HELP);
  const [action, name, ...extra] = positionals;
  if (action !== 'create' || !name || extra.length > 0)
    throw new UsageError('usage: baton lanes create NAME [--app APP]');
  const client = await AdminClient.fromOptions(values);
  const lane = await client.request<CreatedLane>('POST', '/v1/admin/lanes', {
    lane: name,
    ...(values.app ? { app: values.app } : {}),
  });
  console.log(
    lane.created
      ? `lane ${lane.lane} created (app ${lane.app})`
      : `lane ${lane.lane} exists (app ${lane.app})`,
  );
}

export const PRIORITY_HELP = `baton priority: set a replica's leadership priority

usage: baton priority REPLICA N [options]

${ADMIN_OPTIONS_HELP}

Lanes go to the ready replicas of the highest priority; raising one replica above the others
moves every lane to it by planned handover. The value lasts until the replica restarts, which
then uses its --priority again.`;

export async function priorityCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, ADMIN_OPTIONS, 'priority');
  if (values.help) return console.log(PRIORITY_HELP);
  const [replica, value, ...extra] = positionals;
  if (!replica || value === undefined || extra.length > 0 || !/^-?\d{1,7}$/.test(value))
    throw new UsageError('usage: baton priority REPLICA N (N a whole number)');
  const client = await AdminClient.fromOptions(values);
  await client.request('PUT', `/v1/admin/replicas/${encodeURIComponent(replica)}/priority`, {
    priority: Number(value),
  });
  console.log(`replica ${replica}: priority ${value}`);
}
