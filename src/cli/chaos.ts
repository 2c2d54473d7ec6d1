import { join, resolve } from 'node:path';
import { isAppPath } from '../apps/registry.js';
import { tokenApp } from '../apps/token.js';
import { parseAppIntent, type AppIntent } from '../chaos/app-intent.js';
import { runChaos, type ChaosOptions, type ChaosProgress } from '../chaos/run.js';
import type { AppLane } from '../chaos/target.js';
import { randomSeed } from '../chaos/random.js';
import { DESCRIPTIONS, FAULT_KINDS, isFaultKind, type FaultKind } from '../chaos/schedule.js';
import { describeViolation } from '../chaos/violations.js';
import { intOption, listOption, parse, UsageError } from './args.js';

export const CHAOS_HELP = `baton chaos: inject faults into a cluster under a seeded workload and check the invariants

usage: baton chaos [--seed N] [--duration 90s] [--faults a,b] [options]

  --seed N              seed of the fault schedule and the workload (default: random; always printed)
  --duration D          how long the workload and the faults run: 90s, 10m, 1h (default 90s)
  --replicas N          replicas of the local cluster (default 3)
  --lanes a,b           lanes of the local cluster (default main,side)
  --faults a,b          fault kinds to inject (default: all of them; "none" for a workload alone)
  --fault-every D       mean quiet time between one fault's recovery and the next fault (default 3s)
  --rate N              client operations per second, all clients together (default 40)
  --clients N           concurrent SDK clients, each with its own account (default 4)
  --lease-ttl MS        lane lease TTL of the local cluster (default 1500)
  --out DIR             where report.md, report.json, timeline.svg and history.jsonl go
                        (default ./chaos-out/seed-N)
  --data-dir DIR        where the local cluster lives (default OUT/cluster; logs stay there)
  --keep-data           keep the database files of a clean run (logs are always kept)
  --url U1,U2           attach to a running cluster at these replica URLs instead of starting one
  --database-url URL    with --url: its PostgreSQL, for the checks against the database itself
  --settle-timeout D    longest wait at the end for acknowledged transactions and readers (default 60s)
  --recovery-timeout D  longest a fault may take to recover before the cluster counts as stuck (default 60s)

apps (local cluster only):
  --app SPEC            load a user's app module on every replica (a file path or a package name,
                        as "baton node --app"); repeatable
  --app-lane LANE=APP   also create lane LANE of app APP through the admin API once the cluster is
                        up; the workload sends it the --app-tx intent; repeatable
  --app-tx JSON         the intent sent on app lanes (required with --app-lane), e.g.
                        '{"kind":"put","args":{"key":"k{n}","text":"{client}-{n}"}}': in every
                        string, {n} is the client's counter (a string "{n}" alone: the number)
                        and {client} the client's name
  Every lane is checked for forks, gaps, fenced terms, acknowledged transactions lost or applied
  twice, refused ones applied, replicas and streams; token lanes also against a model of the
  token app (balances, results, supply).

fault kinds:
${FAULT_KINDS.map((k) => `  ${k.padEnd(18)}${DESCRIPTIONS[k]}`).join('\n')}

Attached to a cluster it did not start, baton chaos can only pause replicas (and only when
their pids are processes of this machine): it cannot restart a killed replica, restart the
database or stand between the two, and says which faults it skips.

Exit code 0 when no invariant was violated; 1 with the seed and the violations otherwise.
See docs/chaos.md.`;

/** "90s", "10m", "1h", "500ms" or plain seconds, in milliseconds. */
export function durationOption(value: string | undefined, name: string, fallbackMs: number): number {
  if (value === undefined) return fallbackMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new UsageError(`--${name} must be a duration like 90s, 10m or 500ms, got "${value}"`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

function faultsOption(value: string | undefined): FaultKind[] {
  if (value === undefined || value === 'all') return [...FAULT_KINDS];
  if (value === 'none') return [];
  const kinds = listOption(value, []);
  for (const k of kinds) {
    if (!isFaultKind(k)) throw new UsageError(`unknown fault "${k}"; known: ${FAULT_KINDS.join(', ')}`);
  }
  return [...new Set(kinds)] as FaultKind[];
}

/** --app-lane LANE=APP, each lane once and none of them a token lane of --lanes. */
function appLanesOption(values: string[], tokenLanes: readonly string[]): AppLane[] {
  const lanes = values.map((value) => {
    const [lane, app, ...rest] = value.split('=');
    if (!lane || !app || rest.length > 0) throw new UsageError(`--app-lane must be LANE=APP, got "${value}"`);
    if (app === tokenApp.name)
      throw new UsageError(`--app-lane ${value}: token lanes are given with --lanes`);
    if (tokenLanes.includes(lane))
      throw new UsageError(`--app-lane ${value}: ${lane} is a token lane (--lanes)`);
    return { lane, app };
  });
  const names = lanes.map((l) => l.lane);
  const twice = names.find((lane, i) => names.indexOf(lane) !== i);
  if (twice) throw new UsageError(`--app-lane: lane ${twice} is given twice`);
  return lanes;
}

function appTxOption(value: string | undefined, appLanes: readonly AppLane[]): AppIntent | undefined {
  if (value === undefined) {
    if (appLanes.length > 0) throw new UsageError('--app-lane needs --app-tx: the intent to send there');
    return undefined;
  }
  if (appLanes.length === 0) throw new UsageError('--app-tx is sent on app lanes: give them with --app-lane');
  try {
    return parseAppIntent(value);
  } catch (error) {
    throw new UsageError(`--app-tx ${(error as Error).message}, got ${value}`);
  }
}

function clock(ms: number, totalMs: number): string {
  return `[${(ms / 1_000).toFixed(1).padStart(6)}/${Math.round(totalMs / 1_000)} s]`;
}

export async function chaosCommand(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    {
      seed: { type: 'string' },
      duration: { type: 'string' },
      replicas: { type: 'string' },
      lanes: { type: 'string' },
      faults: { type: 'string' },
      'fault-every': { type: 'string' },
      rate: { type: 'string' },
      clients: { type: 'string' },
      'lease-ttl': { type: 'string' },
      out: { type: 'string' },
      'data-dir': { type: 'string' },
      'keep-data': { type: 'boolean' },
      url: { type: 'string' },
      'database-url': { type: 'string' },
      'settle-timeout': { type: 'string' },
      'recovery-timeout': { type: 'string' },
      app: { type: 'string', multiple: true },
      'app-lane': { type: 'string', multiple: true },
      'app-tx': { type: 'string' },
    },
    'chaos',
  );
  if (values.help) {
    console.log(CHAOS_HELP);
    return;
  }
  const seed = intOption(values.seed, 'seed', randomSeed(), 0, 2 ** 32 - 1);
  const urls = listOption(values.url, []);
  if (values['database-url'] && urls.length === 0) {
    throw new UsageError('--database-url attaches to a running cluster: give its replicas with --url too');
  }
  if (urls.length > 0 && (values.app || values['app-lane'] || values['app-tx'] !== undefined)) {
    throw new UsageError('--app, --app-lane and --app-tx set up a local cluster: not with --url');
  }
  const lanes = listOption(values.lanes, ['main', 'side']);
  if (lanes.length === 0) throw new UsageError('--lanes needs at least one lane');
  const appModules = (values.app ?? []).map((spec) => (isAppPath(spec) ? resolve(spec) : spec));
  const appLanes = appLanesOption(values['app-lane'] ?? [], lanes);
  const appTx = appTxOption(values['app-tx'], appLanes);
  const outDir = resolve(values.out ?? join('chaos-out', `seed-${seed}`));
  const options: ChaosOptions = {
    seed,
    durationMs: durationOption(values.duration, 'duration', 90_000),
    replicas: intOption(values.replicas, 'replicas', 3, 2, 16),
    lanes,
    ...(appModules.length > 0 ? { appModules } : {}),
    ...(appLanes.length > 0 ? { appLanes, appTx } : {}),
    faults: faultsOption(values.faults),
    faultEveryMs: durationOption(values['fault-every'], 'fault-every', 3_000),
    ratePerSec: intOption(values.rate, 'rate', 40, 1, 5_000),
    clients: intOption(values.clients, 'clients', 4, 1, 256),
    leaseTtlMs: intOption(values['lease-ttl'], 'lease-ttl', 1_500, 300, 600_000),
    outDir,
    ...(values['data-dir'] ? { dataDir: resolve(values['data-dir']) } : {}),
    ...(urls.length > 0 ? { attach: { urls, databaseUrl: values['database-url'] ?? null } } : {}),
    settleTimeoutMs: durationOption(values['settle-timeout'], 'settle-timeout', 60_000),
    recoveryTimeoutMs: durationOption(values['recovery-timeout'], 'recovery-timeout', 60_000),
    keepData: values['keep-data'] === true,
  };
  if (options.durationMs < 1_000) throw new UsageError('--duration must be at least 1s');

  const controller = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) process.exit(130);
    console.log('stopping: healing faults and ending every process started…');
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const total = options.durationMs;
  const progress: ChaosProgress = {
    note: (text) => console.log(`baton chaos: ${text}`),
    fault: (event, phase) => {
      if (phase === 'start') {
        console.log(`${clock(event.startedAt, total)} fault #${event.index} ${event.kind}…`);
        return;
      }
      const at = clock(event.recoveredAt ?? event.healedAt ?? event.startedAt, total);
      if (event.outcome !== 'fired') {
        console.log(
          `${at} fault #${event.index} ${event.kind} ${event.outcome}: ${event.note ?? event.detail}`,
        );
        return;
      }
      const rec =
        event.recoveredAt !== undefined && event.healedAt !== undefined
          ? `recovered ${event.recoveredAt - event.healedAt} ms after healing`
          : 'NOT recovered';
      console.log(`${at} fault #${event.index} ${event.kind}: ${event.detail}; ${rec}`);
    },
    status: (s) => {
      const lanesText = s.lanes
        .map((l) => `${l.lane} ${l.leader ?? '-'} t${l.term} h${l.height}`)
        .join(' · ');
      console.log(
        `${clock(s.elapsedMs, s.durationMs)} ops ok ${s.ops.ok} failed ${s.ops.failed} unknown ${s.ops.unknown} · ${lanesText}`,
      );
    },
  };

  console.log(
    `baton chaos: seed ${seed}, ${Math.round(total / 1_000)} s, ` +
      (options.attach
        ? `attached to ${urls.join(', ')}`
        : `${options.replicas} replicas, lanes ${[...lanes, ...appLanes.map((l) => `${l.lane} (${l.app})`)].join(', ')}`) +
      `, faults ${options.faults.join(', ') || 'none'}`,
  );
  console.log(`baton chaos: report in ${outDir}`);
  let code = 0;
  try {
    const report = await runChaos(options, progress, controller.signal);
    const fired = Object.entries(report.faults.fired)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    console.log(`baton chaos: faults fired: ${fired || 'none'}`);
    for (const w of report.warnings) console.log(`baton chaos: warning: ${w}`);
    console.log(
      `baton chaos: ${report.ops.total} operations (${report.ops.outcomes.ok} ok, ${report.ops.outcomes.failed} failed, ${report.ops.outcomes.unknown} unknown); ` +
        report.lanes.map((l) => `${l.lane} (${l.app}) height ${l.height}`).join(', '),
    );
    console.log(
      `baton chaos: wrote ${['report.md', 'report.json', 'timeline.svg', 'history.jsonl'].map((f) => join(outDir, f)).join(', ')}`,
    );
    if (report.violations.length === 0) {
      console.log(`baton chaos: seed ${seed}: no invariant violated`);
    } else {
      code = 1;
      console.log(`baton chaos: seed ${seed}: ${report.violations.length} VIOLATIONS`);
      for (const v of report.violations) console.log(`  ${describeViolation(v)}`);
      console.log(`baton chaos: reproduce with: ${report.reproduce}`);
      if (report.logs) console.log(`baton chaos: logs in ${report.logs}`);
    }
  } catch (error) {
    if (controller.signal.aborted) {
      console.log(`baton chaos: seed ${seed}: interrupted; everything it started has been stopped`);
      process.exit(130);
    }
    throw new Error(`seed ${seed}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  process.exit(code);
}
