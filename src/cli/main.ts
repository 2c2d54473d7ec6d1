import { VERSION } from '../version.js';
import { UsageError } from './args.js';
import { CHAOS_HELP, chaosCommand } from './chaos.js';
import { NODE_HELP, nodeCommand } from './node.js';
import { STATUS_HELP, statusCommand } from './status.js';
import { UP_HELP, upCommand } from './up.js';
import {
  DRAIN_HELP,
  HANDOVER_HELP,
  LANES_HELP,
  UPGRADE_HELP,
  upgradeCommand,
  PRIORITY_HELP,
  drainCommand,
  handoverCommand,
  lanesCommand,
  priorityCommand,
} from './admin-commands.js';

const HELP = `baton ${VERSION}: a high-availability runtime for ledger nodes

usage: baton <command> [options]

commands:
  up       start a local cluster: embedded PostgreSQL + N replicas, in the foreground
  node     run one replica against a PostgreSQL database (production)
  status   show the replicas and lanes of a running cluster
  handover move a lane's leadership to another replica now
  drain    drain one replica (hand its lanes over, then exit)
  lanes    create lanes at run time
  upgrade  switch a lane to another version of its app
  priority set a replica's leadership priority
  chaos    inject faults under a seeded workload and check the invariants

"baton <command> --help" describes each command.`;

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; help: string }> = {
  up: { run: upCommand, help: UP_HELP },
  node: { run: nodeCommand, help: NODE_HELP },
  status: { run: statusCommand, help: STATUS_HELP },
  handover: { run: handoverCommand, help: HANDOVER_HELP },
  drain: { run: drainCommand, help: DRAIN_HELP },
  lanes: { run: lanesCommand, help: LANES_HELP },
  upgrade: { run: upgradeCommand, help: UPGRADE_HELP },
  priority: { run: priorityCommand, help: PRIORITY_HELP },
  chaos: { run: chaosCommand, help: CHAOS_HELP },
};

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(HELP);
    return;
  }
  if (name === '--version' || name === '-v') {
    console.log(VERSION);
    return;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command "${name}"\n\n${HELP}`);
  await command.run(rest);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`baton: ${error.message}`);
    process.exit(2);
  }
  console.error(`baton: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
