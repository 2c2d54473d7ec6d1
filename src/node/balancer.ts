import type { Logger } from '../log.js';
import { sleep } from '../time.js';
import type { Leadership } from './leadership.js';
import { planTransfers, spreadLanes, type LeadershipMode, type Transfer } from './placement.js';
import type { ReplicaRegistry } from './registry.js';

export interface BalancerTimings {
  /** How often each replica compares leadership with its placement. */
  intervalMs: number;
  /** A replica must have been ready this long before it is given lanes. */
  settleMs: number;
  /** A lane is not moved again within this long of being taken. */
  minHoldMs: number;
}

export const DEFAULT_BALANCER_TIMINGS: BalancerTimings = {
  intervalMs: 500,
  settleMs: 1_000,
  minHoldMs: 1_000,
};

export interface BalancerOptions {
  replicaId: string;
  mode: LeadershipMode;
  registry: ReplicaRegistry;
  leadership: Leadership;
  timings: BalancerTimings;
  logger: Logger;
  /** False while this replica cannot take part (not ready, draining). */
  active: () => boolean;
}

/**
 * Moves lanes this replica leads to where placement wants them, by planned handover. Every
 * replica plans from the same database view, and each executes only its own part. Hysteresis:
 * a transfer runs only if the previous round planned it too, receivers must have settled, and a
 * lane just taken is not moved again; a balanced cluster (shares differing by at most one) plans
 * nothing.
 */
export class Balancer {
  private previous = '';

  constructor(private readonly options: BalancerOptions) {}

  async run(signal: AbortSignal): Promise<void> {
    const { timings, logger } = this.options;
    while (!signal.aborted) {
      await sleep(timings.intervalMs, signal);
      if (signal.aborted || !this.options.active()) {
        this.previous = '';
        continue;
      }
      try {
        await this.round();
      } catch (error) {
        this.previous = '';
        logger.debug('placement round failed', { error });
      }
    }
  }

  /** Where this replica's lanes should go when it leaves: spread over the other eligible replicas. */
  async leavingTargets(lanes: readonly string[]): Promise<Map<string, string[]>> {
    const replicas = await this.options.registry.placement(this.options.timings.settleMs);
    return spreadLanes(replicas, this.options.replicaId, lanes);
  }

  private async round(): Promise<void> {
    const { replicaId, mode, registry, leadership, timings, logger } = this.options;
    const replicas = await registry.placement(timings.settleMs);
    const mine = planTransfers(mode, replicas).filter((t) => t.from === replicaId);
    const key = describe(mine);
    const confirmed = key !== '' && key === this.previous;
    this.previous = key;
    if (!confirmed) return;
    this.previous = '';
    for (const transfer of mine) {
      const lanes = leadership.givable(transfer.count, timings.minHoldMs);
      if (lanes.length === 0) continue;
      logger.info('handing lanes over for placement', {
        to: transfer.to,
        lanes: lanes.length,
        shares: Object.fromEntries(replicas.map((r) => [r.id, r.leads])),
      });
      await leadership.handOverLanes(lanes, transfer.to);
    }
  }
}

function describe(transfers: readonly Transfer[]): string {
  return transfers.map((t) => `${t.to}:${t.count}`).join(',');
}
