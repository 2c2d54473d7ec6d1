import { leaseTimings } from '../coordination/elector.js';
import { createLogger, type LogLevel } from '../log.js';
import { replicaConfig } from '../node/config.js';
import { startReplica } from '../node/replica.js';
import { intOption, listOption, parse, UsageError } from './args.js';
import { readAdminToken } from '../node/admin-token.js';
import { DEFAULT_LEADER_LIMITS } from '../ledger/leader.js';
import { DEFAULT_APPLY_BUDGET_MS } from '../apps/runner.js';

export const NODE_HELP = `baton node: run one replica against a PostgreSQL database (production use)

usage: baton node --database-url URL --id ID [options]

  --database-url URL   PostgreSQL connection URL (or env BATON_DATABASE_URL)
  --id ID              replica id, unique in the cluster (letters, digits, _ . -)
  --port P             HTTP port (default 7700)
  --host H             address to listen on (default 127.0.0.1)
  --advertise-url URL  URL other replicas and clients use to reach this one
  --lanes a,b          lanes to create if missing (default main); every lane is served
  --app SPEC           load an app module: a file path or a package name whose default export
                       is an app (or an array of apps). Repeat it to load several apps, or
                       several versions of one app. The built-in token app is always loaded.
  --apply-budget MS    time budget of one transaction's apply and of one query (default 200):
                       a transaction over it is committed as refused
  --state-cache-keys N most state keys of one lane held in memory (default 250000): a lane with
                       more starts with none loaded and reads keys through to PostgreSQL as
                       blocks and queries need them
  --verify-blocks      re-execute every block with this replica's app code and compare it with
                       what the block recorded: a non-deterministic app shows up in the log,
                       /metrics (baton_blocks_verified_total) and baton status
  --lease-ttl MS       lane lease time-to-live in milliseconds (default 3000)
  --drain-timeout MS   longest a graceful stop waits for in-flight requests (default 10000)
  --drain-grace MS     how long a draining replica keeps answering (readiness 503) before it
                       stops listening, so load balancers notice (default 1000)
  --priority N         leadership priority (default 0): lanes go to the ready replicas of the
                       highest priority, by planned handover
  --mode M             active-active (default: lanes spread over the replicas) or active-passive
                       (one replica leads every lane and only it reports ready)
  --stall-timeout MS   a leader with pending transactions that commits nothing for this long
                       gives its lanes up and reports unhealthy on /livez (default 10000)
  --admin-token-file F enable the admin API (/v1/admin/…) behind the bearer token in F
  --log-level LEVEL    debug | info | warn | error (default info)

Logs are JSON lines on stdout. SIGTERM or SIGINT drains the replica: it reports not ready at
once, hands its lanes to other replicas (no lease wait), closes stream subscribers with code
1012, lets in-flight requests finish, and exits; a second signal exits immediately.
When started by "baton up" it also stops when its parent goes away.`;

export async function nodeCommand(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      'database-url': { type: 'string' },
      id: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'advertise-url': { type: 'string' },
      lanes: { type: 'string' },
      app: { type: 'string', multiple: true },
      'apply-budget': { type: 'string' },
      'verify-blocks': { type: 'boolean' },
      'state-cache-keys': { type: 'string' },
      'lease-ttl': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'drain-grace': { type: 'string' },
      'admin-token-file': { type: 'string' },
      priority: { type: 'string' },
      mode: { type: 'string' },
      'stall-timeout': { type: 'string' },
      'log-level': { type: 'string' },
      'watch-parent': { type: 'boolean' },
    },
    'node',
  );
  if (values.help) {
    console.log(NODE_HELP);
    return;
  }
  const databaseUrl = values['database-url'] ?? process.env['BATON_DATABASE_URL'];
  if (!databaseUrl) throw new UsageError('--database-url (or BATON_DATABASE_URL) is required');
  if (!values.id) throw new UsageError('--id is required');
  const level = (values['log-level'] ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level))
    throw new UsageError('--log-level must be debug, info, warn or error');
  const logger = createLogger({ replica: values.id }, { level });
  const mode = values.mode ?? 'active-active';
  if (mode !== 'active-active' && mode !== 'active-passive')
    throw new UsageError('--mode must be active-active or active-passive');
  const priority = values.priority === undefined ? 0 : Number(values.priority);
  if (!/^-?\d{1,7}$/.test(values.priority ?? '0') || Math.abs(priority) > 1_000_000)
    throw new UsageError('--priority must be a whole number between -1000000 and 1000000');
  const config = replicaConfig({
    id: values.id,
    databaseUrl,
    logger,
    port: intOption(values.port, 'port', 7700),
    host: values.host ?? '127.0.0.1',
    lanes: listOption(values.lanes, ['main']),
    apps: values.app ?? [],
    verifyBlocks: values['verify-blocks'] ?? false,
    stateCacheKeys: intOption(values['state-cache-keys'], 'state-cache-keys', 250_000, 1_000, 100_000_000),
    applyBudgetMs: intOption(values['apply-budget'], 'apply-budget', DEFAULT_APPLY_BUDGET_MS, 1, 60_000),
    lease: leaseTimings(intOption(values['lease-ttl'], 'lease-ttl', 3_000, 300, 600_000)),
    drainTimeoutMs: intOption(values['drain-timeout'], 'drain-timeout', 10_000, 0, 3_600_000),
    drainGraceMs: intOption(values['drain-grace'], 'drain-grace', 1_000, 0, 600_000),
    priority,
    mode,
    leader: {
      ...DEFAULT_LEADER_LIMITS,
      stallMs: intOption(values['stall-timeout'], 'stall-timeout', 10_000, 100, 3_600_000),
    },
    ...(values['advertise-url'] ? { advertiseUrl: values['advertise-url'] } : {}),
  });

  const tokenFile = values['admin-token-file'];
  if (tokenFile) config.adminToken = await readAdminToken(tokenFile);
  const replica = await startReplica(config);
  replica.events.on('replica:stopped', () => process.exit(0)); // e.g. after POST /v1/admin/drain
  let signals = 0;
  const stop = (why: string): void => {
    signals++;
    if (signals > 1) {
      logger.warn('second stop request: exiting now', { why });
      process.exit(1);
    }
    logger.info('stop requested', { why });
    // However the drain goes, the process is gone shortly after the drain timeout.
    setTimeout(() => process.exit(1), config.drainTimeoutMs + 5_000).unref();
    replica.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('stop failed', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (values['watch-parent']) {
    // "baton up" keeps our stdin open; it closes when the parent dies, even by SIGKILL.
    process.stdin.on('end', () => stop('parent exited'));
    process.stdin.on('close', () => stop('parent exited'));
    process.stdin.resume();
  }
}
