import type { ClusterView } from '../api/context.js';
import type { LocalCluster } from '../cluster/local.js';
import { sleep } from '../time.js';
import type { FaultPlan } from './schedule.js';
import type { TcpProxy } from './tcp-proxy.js';

/** What happened to one planned fault. Times are milliseconds since the run began. */
export interface FaultEvent {
  index: number;
  kind: FaultPlan['kind'];
  plan: FaultPlan;
  outcome: 'fired' | 'skipped' | 'failed';
  /** The replicas hit. */
  targets: string[];
  lane?: string;
  /** The targeted lane's term when the fault hit. */
  term?: number;
  detail: string;
  startedAt: number;
  healedAt?: number;
  /** Every lane led and producing again, every replica ready. */
  recoveredAt?: number;
  note?: string;
}

/** The cluster under test, as the fault injector sees it. */
export interface ChaosTarget {
  lanes: readonly string[];
  /** Our own replica processes and PostgreSQL (null when attached to a cluster we did not start). */
  cluster: LocalCluster | null;
  /** One proxy per replica between it and PostgreSQL (empty when attached). */
  proxies: ReadonlyMap<string, TcpProxy>;
  view(signal?: AbortSignal): Promise<ClusterView>;
  /** Sends a signal to a replica process (ours, or a local pid when attached). */
  signal(id: string, signal: NodeJS.Signals): void;
  /** Milliseconds since the run began. */
  now(): number;
}

/** The record of `plan` as it starts, before anything is known of its targets. */
export function firedEvent(plan: FaultPlan, startedAt: number): FaultEvent {
  return { index: plan.index, kind: plan.kind, plan, outcome: 'fired', targets: [], detail: '', startedAt };
}

const LEADER_WAIT_MS = 5_000;

/** Injects one fault at a time and heals it; remembers paused processes so a stop can resume them. */
export class FaultInjector {
  private readonly paused = new Set<string>();

  constructor(private readonly target: ChaosTarget) {}

  /** Injects `plan`, holds it, heals it. Never throws: failures are recorded in the event. */
  async run(plan: FaultPlan, signal: AbortSignal): Promise<FaultEvent> {
    const event = firedEvent(plan, this.target.now());
    try {
      await this.inject(plan, event, signal);
    } catch (error) {
      event.outcome = 'failed';
      event.note = error instanceof Error ? error.message : String(error);
    } finally {
      this.healAll();
      event.healedAt ??= this.target.now();
    }
    return event;
  }

  /** Resumes paused processes and lets every proxy pass traffic (used on stop, too). */
  healAll(): void {
    for (const id of this.paused) this.target.signal(id, 'SIGCONT');
    this.paused.clear();
    for (const proxy of this.target.proxies.values()) if (proxy.mode !== 'pass') proxy.setMode('pass');
  }

  private async inject(plan: FaultPlan, event: FaultEvent, signal: AbortSignal): Promise<void> {
    const { target } = this;
    const laneName = target.lanes[plan.lane % target.lanes.length]!;
    const view = await this.viewFor(plan, laneName, signal);
    const lane = view.lanes.find((l) => l.lane === laneName);
    event.lane = laneName;
    event.term = lane?.term ?? 0;
    const leader = lane?.leader ?? null;
    const leaders = new Set(view.lanes.map((l) => l.leader).filter((x): x is string => x !== null));
    const live = this.liveReplicas(view);
    const chosen = (candidates: string[]): string | undefined =>
      candidates.length === 0 ? undefined : candidates[Math.floor(plan.pick * candidates.length)];
    const follower =
      chosen(live.filter((id) => !leaders.has(id))) ?? chosen(live.filter((id) => id !== leader));
    const victim = plan.role === 'leader' ? (leader ?? undefined) : follower;
    const hold = (): Promise<void> => sleep(plan.holdMs, signal);

    const skip = (why: string): void => {
      event.outcome = 'skipped';
      event.detail = why;
    };
    switch (plan.kind) {
      case 'kill-leader':
      case 'kill-follower':
      case 'stop-leader':
      case 'stop-follower': {
        if (!victim) return skip(`no ${plan.role} to hit on lane ${laneName}`);
        const replica = target.cluster!.replica(victim);
        event.targets = [victim];
        const kill = plan.kind.startsWith('kill');
        event.detail = `${kill ? 'SIGKILL' : 'SIGTERM'} ${victim}${plan.role === 'leader' ? ` (leader of ${laneName}, term ${event.term})` : ''}, restart after ${plan.holdMs} ms`;
        if (kill) {
          replica.signal('SIGKILL');
          await replica.waitExit();
        } else {
          await replica.stop(20_000); // graceful: drains and hands over, SIGKILL only past 20 s
        }
        await hold();
        event.healedAt = target.now();
        if (!signal.aborted) replica.start();
        return;
      }
      case 'pause-leader':
      case 'pause-follower': {
        if (!victim) return skip(`no ${plan.role} to hit on lane ${laneName}`);
        event.targets = [victim];
        event.detail = `SIGSTOP ${victim}${plan.role === 'leader' ? ` (leader of ${laneName}, term ${event.term})` : ''} for ${plan.holdMs} ms, then SIGCONT`;
        this.paused.add(victim);
        target.signal(victim, 'SIGSTOP');
        await hold();
        target.signal(victim, 'SIGCONT');
        this.paused.delete(victim);
        event.healedAt = target.now();
        return;
      }
      case 'kill-all-but-one': {
        const survivor = chosen(live);
        if (!survivor) return skip('no live replica');
        const victims = target.cluster!.replicas.filter((r) => r.running && r.options.id !== survivor);
        event.targets = victims.map((r) => r.options.id);
        event.detail = `SIGKILL ${event.targets.join(', ')} (${survivor} survives), restart after ${plan.holdMs} ms`;
        for (const r of victims) r.signal('SIGKILL');
        await Promise.all(victims.map((r) => r.waitExit()));
        await hold();
        event.healedAt = target.now();
        if (!signal.aborted) for (const r of victims) r.start();
        return;
      }
      case 'postgres-restart': {
        const postgres = target.cluster!.postgres!;
        event.targets = ['postgres'];
        event.detail = `stop PostgreSQL (pid ${postgres.pid ?? '?'}), start it after ${plan.holdMs} ms`;
        await postgres.stop();
        await hold();
        event.healedAt = target.now();
        if (!signal.aborted) await postgres.start();
        return;
      }
      case 'partition':
      case 'half-open': {
        if (!victim) return skip(`no ${plan.role} to cut off`);
        const proxy = target.proxies.get(victim);
        if (!proxy) return skip(`no proxy in front of ${victim}`);
        event.targets = [victim];
        const mode = plan.kind === 'half-open' ? 'half-open' : (plan.style ?? 'blackhole');
        const who = plan.role === 'leader' ? `${victim} (leader of ${laneName}, term ${event.term})` : victim;
        event.detail =
          plan.kind === 'half-open'
            ? `half-open database connections of ${who} for ${plan.holdMs} ms`
            : `cut ${who} off from PostgreSQL (${mode}) for ${plan.holdMs} ms`;
        proxy.setMode(mode);
        await hold();
        proxy.setMode('pass');
        event.healedAt = target.now();
        return;
      }
      case 'slow-db': {
        const delay = plan.delay ?? { fixedMs: 20, jitterMs: 10 };
        event.targets = [...target.proxies.keys()];
        event.detail = `delay every database packet by ${delay.fixedMs} ms + up to ${delay.jitterMs} ms for ${plan.holdMs} ms`;
        for (const proxy of target.proxies.values()) proxy.setMode('delay', delay);
        await hold();
        for (const proxy of target.proxies.values()) proxy.setMode('pass');
        event.healedAt = target.now();
        return;
      }
    }
  }

  /**
   * The cluster as the fault sees it. A fault aimed at a leader waits up to 5 s for its lane to
   * have one: placement moves a lane to a replica that came back after the last fault, and a lane
   * in the middle of that move is led by no one for a moment.
   */
  private async viewFor(plan: FaultPlan, laneName: string, signal: AbortSignal): Promise<ClusterView> {
    let view = await this.target.view(signal);
    const led = (): boolean => view.lanes.some((l) => l.lane === laneName && l.leader !== null);
    if (plan.role !== 'leader' || led()) return view;
    const next = async (): Promise<boolean> => {
      view = await this.target.view(signal);
      return led();
    };
    await pollUntil(next, LEADER_WAIT_MS, signal);
    return view;
  }

  private liveReplicas(view: ClusterView): string[] {
    const { cluster } = this.target;
    if (cluster) return cluster.replicas.filter((r) => r.running).map((r) => r.options.id);
    return view.replicas.map((r) => r.id);
  }
}

export interface RecoveryOptions {
  timeoutMs: number;
  /** Heights per lane when the fault was healed: recovery means every lane produced past them. */
  heightsAtHeal: ReadonlyMap<string, number>;
  /** Whether new blocks are expected (the workload is running). */
  expectProgress: boolean;
}

/** Waits until every replica is ready, every lane has a ready leader and has produced again. */
export async function waitRecovered(
  target: ChaosTarget,
  options: RecoveryOptions,
  signal: AbortSignal,
): Promise<boolean> {
  return pollUntil(() => recovered(target, options, signal).catch(() => false), options.timeoutMs, signal);
}

/** Polls `check` every 100 ms until it is true; false when `timeoutMs` passes or `signal` aborts first. */
export async function pollUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!signal?.aborted && Date.now() < deadline) {
    if (await check()) return true;
    await sleep(100, signal);
  }
  return false;
}

async function recovered(
  target: ChaosTarget,
  options: RecoveryOptions,
  signal: AbortSignal,
): Promise<boolean> {
  const view = await target.view(signal);
  const urls = target.cluster
    ? target.cluster.replicas.map((r) => (r.running ? r.url : null))
    : view.replicas.map((r) => r.url);
  if (urls.some((u) => u === null)) return false;
  const ready = await Promise.all(urls.map((u) => isReadyUrl(u!, signal)));
  if (!ready.every(Boolean)) return false;
  for (const lane of target.lanes) {
    const entry = view.lanes.find((l) => l.lane === lane);
    if (!entry?.leader) return false;
    if (options.expectProgress && entry.height <= (options.heightsAtHeal.get(lane) ?? 0)) return false;
  }
  return true;
}

async function isReadyUrl(url: string, signal: AbortSignal): Promise<boolean> {
  try {
    const res = await fetch(`${url}/readyz`, {
      signal: AbortSignal.any([AbortSignal.timeout(1_000), signal]),
    });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}
