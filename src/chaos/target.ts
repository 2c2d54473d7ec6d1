import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterView } from '../api/context.js';
import { AdminClient } from '../cli/admin-client.js';
import { createClient } from '../client/index.js';
import { LocalCluster } from '../cluster/local.js';
import { pollUntil, type ChaosTarget } from './faults.js';
import { NEEDS, type Capability, type FaultKind } from './schedule.js';
import { TcpProxy } from './tcp-proxy.js';

/** A cluster under test plus how to end everything it started. */
export interface OwnedTarget extends ChaosTarget {
  /** Replica URLs the workload talks to. */
  endpoints: string[];
  /** PostgreSQL for the checker (null when attached without one). */
  databaseUrl: string | null;
  capabilities: Set<Capability>;
  /** Where the replicas' and PostgreSQL's logs are (local clusters). */
  dataDir: string | null;
  /** Stops what was started; `hard` kills at once. */
  close(hard?: boolean): Promise<void>;
}

/** A lane of a user's app (`--app-lane LANE=APP`). */
export interface AppLane {
  lane: string;
  app: string;
}

export interface LocalTargetOptions {
  dataDir: string;
  replicas: number;
  /** Token lanes, from the start. */
  lanes: string[];
  leaseTtlMs: number;
  /** App modules every replica loads (`baton node --app`). */
  appModules?: string[];
  /** Lanes of those apps, created through the admin API once the replicas are ready. */
  appLanes?: AppLane[];
  /** How replica processes run the CLI (default: the way this process runs it). */
  entry?: string[];
  now(): number;
  onExit?: (id: string, code: number | null, signal: NodeJS.Signals | null) => void;
}

const MARKER = '.baton-chaos';

/** Creates `dir` for a new cluster; refuses a non-empty directory that an earlier chaos run did not make. */
async function freshDataDir(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => null);
  if (entries && entries.length > 0) {
    if (!(await stat(join(dir, MARKER)).catch(() => null))) {
      throw new Error(`${dir} is not empty and was not made by baton chaos; choose another --data-dir`);
    }
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, MARKER), 'a baton chaos cluster; removed by the next run with this directory\n');
}

/** Embedded PostgreSQL and N replicas, each reaching the database through its own proxy. */
export async function startLocalTarget(options: LocalTargetOptions): Promise<OwnedTarget> {
  await freshDataDir(options.dataDir);
  const proxies = new Map<string, TcpProxy>();
  for (let i = 1; i <= options.replicas; i++) {
    const proxy = new TcpProxy('127.0.0.1', 1); // its target is set once PostgreSQL has a port
    await proxy.start();
    proxies.set(`r${i}`, proxy);
  }
  const cluster = new LocalCluster({
    dataDir: options.dataDir,
    replicas: options.replicas,
    basePort: 0,
    lanes: options.lanes,
    leaseTtlMs: options.leaseTtlMs,
    replicaArgs: (options.appModules ?? []).flatMap((spec) => ['--app', spec]),
    ...(options.entry ? { entry: options.entry } : {}),
    ...(options.onExit ? { onExit: options.onExit } : {}),
    databaseUrlFor: (id, url) => {
      const proxy = proxies.get(id);
      if (!proxy) return url;
      const u = new URL(url);
      proxy.setTarget(u.hostname, Number(u.port));
      u.port = String(proxy.port);
      return u.toString();
    },
  });
  const close = async (hard = false): Promise<void> => {
    for (const proxy of proxies.values()) proxy.setMode('pass');
    if (hard) await cluster.kill().catch(() => undefined);
    else await cluster.stop(10_000).catch(() => cluster.kill());
    await Promise.all([...proxies.values()].map((p) => p.stop()));
  };
  try {
    await cluster.start();
    await cluster.waitReady(60_000);
    await createAppLanes(cluster, options.appLanes ?? []);
  } catch (error) {
    await close(true);
    throw error;
  }
  return {
    lanes: [...options.lanes, ...(options.appLanes ?? []).map((l) => l.lane)],
    cluster,
    proxies,
    endpoints: cluster.replicas.map((r) => r.url),
    databaseUrl: cluster.databaseUrl,
    capabilities: new Set<Capability>(['signals', 'proxies', 'postgres']),
    dataDir: options.dataDir,
    view: () => cluster.view(),
    signal: (id, signal) => cluster.replica(id).signal(signal),
    now: () => options.now(),
    close,
  };
}

/** Creates the app lanes through the admin API, then waits until every replica serves each with its app. */
async function createAppLanes(cluster: LocalCluster, lanes: readonly AppLane[]): Promise<void> {
  if (lanes.length === 0) return;
  const admin = await AdminClient.fromOptions({
    url: cluster.replicas[0]!.url,
    'admin-token-file': cluster.adminTokenFile,
  });
  for (const { lane, app } of lanes) await admin.request('POST', '/v1/admin/lanes', { lane, app });
  const serves = async (url: string, { lane, app }: AppLane): Promise<boolean> =>
    (await createClient({ endpoints: [url], attempts: 1 }).lane(lane)).app === app;
  const everywhere = async (): Promise<boolean> =>
    (await Promise.all(cluster.replicas.flatMap((r) => lanes.map((l) => serves(r.url, l))))).every(Boolean);
  if (!(await pollUntil(() => everywhere().catch(() => false), 30_000))) {
    throw new Error(`not every replica serves the app lanes ${lanes.map((l) => l.lane).join(', ')}`);
  }
}

/** Reads /v1/cluster from the first of `urls` that answers. */
async function viewOf(urls: readonly string[], signal?: AbortSignal): Promise<ClusterView> {
  for (const url of urls) {
    try {
      const res = await fetch(`${url}/v1/cluster`, {
        signal: AbortSignal.any([AbortSignal.timeout(2_000), ...(signal ? [signal] : [])]),
      });
      if (res.ok) return (await res.json()) as ClusterView;
    } catch {
      // next
    }
  }
  throw new Error('no replica answered /v1/cluster');
}

function signalable(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A running cluster we did not start. Only pauses (SIGSTOP, then SIGCONT) are possible, and only
 * when every replica's pid is a process of this machine we may signal: we cannot restart a
 * killed replica, restart its PostgreSQL or stand between the two.
 */
export async function attachTarget(
  urls: string[],
  databaseUrl: string | null,
  now: () => number,
): Promise<{ target: OwnedTarget; why: Partial<Record<Capability, string>> }> {
  const first = await viewOf(urls);
  const lanes = first.lanes.map((l) => l.lane);
  const local = first.replicas.every(
    (r) => /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:|\/|$)/.test(r.url) && signalable(r.pid),
  );
  const capabilities = new Set<Capability>(local ? ['signals'] : []);
  const why: Partial<Record<Capability, string>> = {
    proxies: 'attached: no proxy stands between the replicas and PostgreSQL',
    postgres: 'attached: the PostgreSQL is not ours to restart',
  };
  if (!local) why.signals = 'attached: the replicas are not processes of this machine that we may signal';
  const pids = new Map(first.replicas.map((r) => [r.id, r.pid]));
  return {
    target: {
      lanes,
      cluster: null,
      proxies: new Map(),
      endpoints: urls,
      databaseUrl,
      capabilities,
      dataDir: null,
      view: (signal) => viewOf(urls, signal),
      signal: (id, sig) => {
        const pid = pids.get(id);
        if (pid) process.kill(pid, sig);
      },
      now,
      close: () => Promise.resolve(),
    },
    why,
  };
}

/** Attached clusters only take pauses: a killed or stopped replica there would stay down. */
export const ATTACH_ALLOWED: ReadonlySet<FaultKind> = new Set<FaultKind>(['pause-leader', 'pause-follower']);

/** The requested kinds split into those this target can take and those skipped, with why. */
export function possibleFaults(
  requested: readonly FaultKind[],
  target: OwnedTarget,
  why: Partial<Record<Capability, string>> = {},
): { kinds: FaultKind[]; skipped: Array<{ kind: FaultKind; why: string }> } {
  const kinds: FaultKind[] = [];
  const skipped: Array<{ kind: FaultKind; why: string }> = [];
  for (const kind of requested) {
    const need = NEEDS[kind];
    if (!target.capabilities.has(need)) skipped.push({ kind, why: why[need] ?? `needs ${need}` });
    else if (!target.cluster && !ATTACH_ALLOWED.has(kind))
      skipped.push({ kind, why: 'attached: a killed or stopped replica could not be restarted' });
    else kinds.push(kind);
  }
  return { kinds, skipped };
}
