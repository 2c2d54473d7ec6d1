import type { HandoverResult, CreatedLane, UpgradeProposal } from '../api/admin.js';
import type { LaneDetail } from '../api/context.js';
import { listOption } from './args.js';
import { sleep } from '../time.js';
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

usage: baton lanes create NAME [--app APP] [--version V] [--approvers K1,K2,…] [--quorum M] [options]

  --app APP              the lane's app (default token); any app the replicas loaded (--app)
  --version V            the app version the lane starts on (default: the newest one loaded)
  --approvers K1,K2,…    public keys (hex) whose signed approvals an upgrade of the lane needs;
                         without them the lane upgrades on the admin's word (baton upgrade)
  --quorum M             how many of the approvers must approve (default: all of them)
${ADMIN_OPTIONS_HELP}

Every replica starts serving a new lane at once; one that runs the lane's app version is
elected its leader.`;

export async function lanesCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      ...ADMIN_OPTIONS,
      app: { type: 'string' },
      version: { type: 'string' },
      approvers: { type: 'string' },
      quorum: { type: 'string' },
    },
    'lanes',
  );
  if (values.help) return console.log(LANES_HELP);
  const [action, name, ...extra] = positionals;
  if (action !== 'create' || !name || extra.length > 0)
    throw new UsageError(
      'usage: baton lanes create NAME [--app APP] [--version V] [--approvers K,…] [--quorum M]',
    );
  if (values.quorum !== undefined && !/^\d{1,3}$/.test(values.quorum))
    throw new UsageError('--quorum must be a whole number');
  const client = await AdminClient.fromOptions(values);
  const lane = await client.request<CreatedLane>('POST', '/v1/admin/lanes', {
    lane: name,
    ...(values.app ? { app: values.app } : {}),
    ...(values.version ? { version: values.version } : {}),
    ...(values.approvers ? { approvers: listOption(values.approvers, []) } : {}),
    ...(values.quorum !== undefined ? { quorum: Number(values.quorum) } : {}),
  });
  const what = `app ${lane.app} ${lane.version ?? ''}`.trim();
  const approvals =
    lane.quorum > 0 ? `, upgrades need ${lane.quorum} of ${lane.approvers.length} approvals` : '';
  console.log(`lane ${lane.lane} ${lane.created ? 'created' : 'exists'} (${what}${approvals})`);
}

export const UPGRADE_HELP = `baton upgrade: switch a lane to another version of its app, at a block boundary

usage: baton upgrade LANE --to VERSION [--no-wait] [--timeout S] [options]

  --to VERSION           the app version to switch to; some ready replica must run it
  --no-wait              return once the upgrade is proposed
  --timeout S            how long to wait for the switch (default 60)
${ADMIN_OPTIONS_HELP}

The lane's leader writes the switch into the next block (on a lane with approvers: the block
in which a quorum of them has approved, each with a signed "baton.approve" transaction). From
the block after it on, only replicas that run VERSION produce the lane's blocks; the leader
hands the lane over to one of them if it lacks VERSION itself. Replicas without VERSION keep
following and serving reads, refuse the lane's submissions (503 app_unavailable) and report
not ready until restarted with it. See docs/upgrades.md.`;

export async function upgradeCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    { ...ADMIN_OPTIONS, to: { type: 'string' }, 'no-wait': { type: 'boolean' }, timeout: { type: 'string' } },
    'upgrade',
  );
  if (values.help) return console.log(UPGRADE_HELP);
  const [lane, ...extra] = positionals;
  if (!lane || extra.length > 0 || !values.to) throw new UsageError('usage: baton upgrade LANE --to VERSION');
  const timeoutS = values.timeout === undefined ? 60 : Number(values.timeout);
  if (!Number.isInteger(timeoutS) || timeoutS < 1)
    throw new UsageError('--timeout must be a whole number of seconds');
  const client = await AdminClient.fromOptions(values);
  const path = `/v1/lanes/${encodeURIComponent(lane)}`;
  const proposal = await client.request<UpgradeProposal>(
    'POST',
    `/v1/admin/lanes/${encodeURIComponent(lane)}/upgrade`,
    {
      to: values.to,
    },
  );
  if (proposal.status === 'active')
    return console.log(`lane ${lane} already runs ${proposal.app} ${proposal.to}`);
  console.log(
    `lane ${lane}: upgrade ${proposal.app} ${proposal.from ?? '(unversioned)'} -> ${proposal.to} proposed; ` +
      `replicas running it: ${proposal.runners.join(', ')}`,
  );
  if (proposal.status === 'awaiting_approvals')
    console.log(
      `waiting for approvals: ${proposal.approvals} of ${proposal.quorum} so far (kind "baton.approve")`,
    );
  if (values['no-wait']) return;
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const view = await client.request<LaneDetail>('GET', path);
    if (view.version === proposal.to) {
      console.log(
        `lane ${lane} now runs ${proposal.app} ${proposal.to} (height ${view.height}, leader ${view.leader ?? '-'})`,
      );
      return;
    }
    if (view.proposedVersion !== proposal.to)
      throw new Error(
        `the proposal was replaced (now ${view.proposedVersion ?? 'none'}); lane ${lane} runs ${view.version}`,
      );
    if (Date.now() > deadline)
      throw new Error(
        `lane ${lane} did not switch to ${proposal.to} within ${timeoutS} s (still ${view.version})`,
      );
    await sleep(250);
  }
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
