import type pg from 'pg';
import type { AppRegistry } from '../apps/registry.js';
import type {
  AdminActions,
  CreatedLane,
  HandoverResult,
  LaneCreation,
  UpgradeProposal,
} from '../api/admin.js';
import type { AdminStatus } from '../api/context.js';
import { BatonError } from '../errors.js';
import type { LedgerStore } from '../ledger/store.js';
import { waitUntil } from '../wait.js';
import { publishControl } from './control.js';
import { pickSuccessor } from './placement.js';
import type { ReplicaRegistry } from './registry.js';

export interface ReplicaAdminOptions {
  token: string;
  replicaId: string;
  pool: pg.Pool;
  store: LedgerStore;
  registry: ReplicaRegistry;
  /** The app code this replica runs (a new lane's default version). */
  apps: AppRegistry;
  /** The lane's approvals so far, from this replica's warm state. */
  approvals: (lane: string, version: string) => Promise<number>;
  /** Drains this replica. */
  drainSelf: () => void;
  /** How long a handover request waits for the new leader. */
  handoverTimeoutMs: number;
  /** How long an upgrade waits for a live replica that runs the target version to report ready. */
  readyWaitMs: number;
}

/** The admin API's actions, as any replica carries them out (others are reached by notification). */
export class ReplicaAdmin implements AdminActions {
  readonly token: string;

  constructor(private readonly options: ReplicaAdminOptions) {
    this.token = options.token;
  }

  drain(): void {
    this.options.drainSelf();
  }

  async drainReplica(id: string): Promise<void> {
    if (id === this.options.replicaId) return this.drain();
    const live = await this.options.registry.placement(0);
    if (!live.some((r) => r.id === id)) throw new BatonError('unknown_replica', `no live replica "${id}"`);
    await publishControl(this.options.pool, { op: 'drain', replica: id });
  }

  async status(): Promise<AdminStatus> {
    const [replicas, lanes] = await Promise.all([
      this.options.registry.replicaStatus(),
      this.options.registry.laneStatus(),
    ]);
    // Counted from the lane rows, not from the leases: during a move the new holder has the
    // lease before it has claimed the lane's term, and the lane shows no leader until then.
    const leads = (id: string) => lanes.filter((l) => l.leader === id).length;
    return { replicas: replicas.map((r) => ({ ...r, leads: leads(r.id) })), lanes };
  }

  async handover(lane: string, to: string | null): Promise<HandoverResult> {
    const { registry, pool } = this.options;
    const lease = await registry.lease(lane);
    if (!lease?.holder) throw new BatonError('no_leader');
    const from = lease.holder;
    const replicas = await registry.placement(0);
    let target = to;
    if (target === null) {
      target = pickSuccessor(replicas, from);
      if (target === null) throw new BatonError('not_eligible', 'no other replica can lead this lane now');
    } else {
      const chosen = replicas.find((r) => r.id === target);
      if (!chosen) throw new BatonError('unknown_replica', `no live replica "${target}"`);
      if (target === from) return { lane, from, to: target, term: lease.term };
      if (!chosen.eligible) throw new BatonError('not_eligible', `replica ${target} is not ready`);
      const top = Math.max(...replicas.filter((r) => r.eligible).map((r) => r.priority));
      if (chosen.priority < top) {
        throw new BatonError(
          'not_eligible',
          `replica ${target} has priority ${chosen.priority}, below the cluster's ${top}: placement would move the lane back`,
        );
      }
    }
    await publishControl(pool, { op: 'handover', lane, to: target });
    const moved = await waitUntil(
      async () => {
        const now = await registry.lease(lane);
        return now?.holder && now.holder !== from && now.term > lease.term ? now : undefined;
      },
      { timeoutMs: this.options.handoverTimeoutMs, intervalMs: 10, message: `lane ${lane} to change leader` },
    ).catch(() => {
      throw new BatonError(
        'timeout',
        `lane ${lane} did not change leader within ${this.options.handoverTimeoutMs} ms`,
      );
    });
    return { lane, from, to: moved.holder!, term: moved.term };
  }

  async createLane(request: LaneCreation): Promise<CreatedLane> {
    const { apps, store } = this.options;
    const approvers = (request.approvers ?? []).map((a) => a.toLowerCase());
    const quorum = request.quorum ?? (approvers.length > 0 ? approvers.length : 0);
    if (new Set(approvers).size !== approvers.length)
      throw new BatonError('bad_request', 'approvers repeat a key');
    if (approvers.length === 0 ? quorum !== 0 : quorum < 1 || quorum > approvers.length)
      throw new BatonError(
        'bad_request',
        `quorum must be between 1 and the number of approvers (${approvers.length})`,
      );
    if (!apps.has(request.app)) {
      const known = Object.keys(apps.describe()).join(', ');
      throw new BatonError('bad_request', `this replica has no app "${request.app}" (it has ${known})`);
    }
    const version = request.version ?? apps.latest(request.app)!.version;
    if (!apps.get(request.app, version))
      throw new BatonError(
        'version_unavailable',
        `this replica does not run ${request.app} ${version} (it has ${apps.versions(request.app).join(', ')})`,
      );
    const { row, created } = await store.ensureLane(request.lane, {
      app: request.app,
      version,
      approvers,
      quorum,
    });
    return {
      lane: row.lane,
      app: row.app,
      version: row.version,
      approvers: row.approvers,
      quorum: row.quorum,
      created,
    };
  }

  async upgrade(lane: string, to: string): Promise<UpgradeProposal> {
    const { store, registry } = this.options;
    const row = await store.lane(lane);
    if (!row) throw new BatonError('unknown_lane');
    const runnersNow = async () => {
      const [runners, live] = await Promise.all([registry.runnersOf(row.app, to), registry.placement(0)]);
      return { runners, ready: live.some((r) => r.eligible && runners.has(r.id)) };
    };
    let { runners, ready } = await runnersNow();
    // A replica that runs the version but just started reports ready with its next heartbeat.
    if (!ready && runners.size > 0 && row.version !== to) {
      ({ runners, ready } = await waitUntil(
        async () => {
          const now = await runnersNow();
          return now.ready ? now : undefined;
        },
        { timeoutMs: this.options.readyWaitMs, intervalMs: 100 },
      ).catch(() => ({ runners, ready })));
    }
    const base = {
      lane,
      app: row.app,
      from: row.version,
      to,
      quorum: row.quorum,
      runners: [...runners].sort(),
    };
    if (row.version === to) return { ...base, status: 'active', approvals: 0 };
    if (!ready)
      throw new BatonError(
        'version_unavailable',
        `no ready replica runs ${row.app} ${to}: start replicas with that version first`,
      );
    await store.proposeUpgrade(lane, to);
    const approvals = await this.options.approvals(lane, to);
    const waiting = row.quorum > 0 && approvals < row.quorum;
    return { ...base, status: waiting ? 'awaiting_approvals' : 'proposed', approvals };
  }

  async setPriority(id: string, priority: number): Promise<void> {
    if (!(await this.options.registry.setPriority(id, priority)))
      throw new BatonError('unknown_replica', `no live replica "${id}"`);
  }
}
