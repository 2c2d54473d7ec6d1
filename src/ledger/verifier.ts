import type { AppRunner } from '../apps/runner.js';
import type { TypedEvents } from '../events.js';
import type { Logger } from '../log.js';
import { backoffMs, sleep } from '../time.js';
import { compactResult, type BlockRecord } from './block.js';
import { canonicalJson } from './canonical.js';
import { executeTxs } from './execute.js';
import type { Lane } from './lane.js';
import { LaneState } from './lane-state.js';
import type { LedgerStore } from './store.js';

export interface VerifierEvents extends Record<string, unknown> {
  /** A block this replica re-executed and found to differ from what its producer recorded. */
  'block:mismatch': { lane: string; height: number; producer: string; version: string | null; what: string };
  'block:verified': { lane: string; height: number };
}

/** Counts of one replica's block verification, over all its lanes. */
export interface VerificationCounts {
  verified: number;
  mismatches: number;
  /** Blocks not re-executed: produced by an app version this replica lacks, or from before versions. */
  skipped: number;
}

/**
 * Re-executes every block of a lane with this replica's own copy of the app and compares the
 * results and state writes with what the block recorded (`--verify-blocks`). Followers apply the
 * leader's recorded writes and a new leader re-runs the app on them, so an app that is not
 * deterministic (Math.random, the wall clock, iteration order of something unordered) silently
 * forks the state the replicas would compute; this makes it visible. It keeps its own copy of the
 * lane state (memory for a second copy) and runs behind the follower, off the commit path.
 */
export class BlockVerifier {
  private readonly queue: BlockRecord[] = [];
  private wake: (() => void) | null = null;

  constructor(
    private readonly lane: Lane,
    private readonly store: LedgerStore,
    private readonly runner: AppRunner,
    private readonly counts: VerificationCounts,
    private readonly events: TypedEvents<VerifierEvents>,
    private readonly logger: Logger,
  ) {
    lane.follower.events.on('block', (block) => {
      this.queue.push(block);
      this.wake?.();
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    const onAbort = (): void => this.wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      // Its own whole copy of the state, whatever the follower keeps in memory.
      const state = await this.retry(
        'load the lane state',
        signal,
        async () => new LaneState(await this.store.snapshot(this.lane.name)),
      );
      if (!state) return;
      while (!signal.aborted) {
        const block = this.queue.shift();
        if (!block) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = null;
          continue;
        }
        // Blocks between the snapshot and the first one announced are read from the database.
        while (state.height + 1 < block.height && !signal.aborted) {
          const missed = await this.retry('read blocks', signal, () =>
            this.store.blocksAfter(
              this.lane.name,
              state.height,
              Math.min(200, block.height - state.height - 1),
            ),
          );
          for (const b of missed ?? []) await this.verify(state, b, signal);
        }
        if (block.height === state.height + 1) await this.verify(state, block, signal);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async verify(state: LaneState, block: BlockRecord, signal: AbortSignal): Promise<void> {
    const app = block.version === null ? undefined : this.lane.appAt(block.version);
    if (!app) {
      this.counts.skipped++;
    } else {
      const bodies = await this.retry('read transaction bodies', signal, async () => {
        const found = await this.store.txBodies(block.lane, block.txs);
        return block.txs.map((id) => ({ id, body: found.get(id) ?? '' }));
      });
      if (!bodies) return;
      const overlay = state.overlay();
      const execution = { app, policy: this.lane, runner: this.runner };
      const results = executeTxs(execution, overlay, bodies, block.height, block.time);
      const what: string[] = [];
      if (canonicalJson(results.map(compactResult)) !== canonicalJson(block.results.map(compactResult)))
        what.push('results');
      if (canonicalJson(overlay.changes()) !== canonicalJson(block.changes)) what.push('state writes');
      if (what.length === 0) {
        this.counts.verified++;
        this.events.emit('block:verified', { lane: block.lane, height: block.height });
      } else {
        this.counts.mismatches++;
        const mismatch = {
          lane: block.lane,
          height: block.height,
          producer: block.producer,
          version: block.version,
          what: what.join(' and '),
        };
        this.logger.error('block does not re-execute to what it recorded: the app is not deterministic', {
          ...mismatch,
          hash: block.hash,
        });
        this.events.emit('block:mismatch', mismatch);
      }
    }
    // Whatever this replica computed, the chain is what the block recorded.
    if (!state.applyNext(block))
      throw new Error(
        `verifier of lane ${block.lane}: block ${block.height} does not extend ${state.height}`,
      );
  }

  /** `read` until it succeeds, backing off; null when stopped first. */
  private async retry<T>(what: string, signal: AbortSignal, read: () => Promise<T>): Promise<T | null> {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        return await read();
      } catch (error) {
        this.logger.warn(`verifier could not ${what}; retrying`, { error });
        await sleep(backoffMs(attempt, 50, 2_000), signal);
      }
    }
    return null;
  }
}
