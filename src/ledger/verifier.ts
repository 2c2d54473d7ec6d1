import type { AppRunner } from '../apps/runner.js';
import type { TypedEvents } from '../events.js';
import type { Logger } from '../log.js';
import { retrying } from '../time.js';
import { Waker } from '../waker.js';
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

/** Blocks read (with their transaction bodies, one query each) per round of verification. */
const BATCH = 20;
/** Longest an idle verifier sleeps on its own (the follower's blocks wake it sooner). */
const IDLE_WAIT_MS = 10_000;

/**
 * Re-executes every block of a lane with this replica's own copy of the app and compares the
 * results and state writes with what the block recorded (`--verify-blocks`). Followers apply the
 * leader's recorded writes and a new leader re-runs the app on them, so an app that is not
 * deterministic (Math.random, the wall clock, iteration order of something unordered) silently
 * forks the state the replicas would compute; this makes it visible. It keeps its own copy of the
 * lane state (memory for a second copy) and runs behind the follower, off the commit path: woken
 * by the follower's blocks, it reads what it has not verified from the database in batches, so a
 * verifier that falls behind holds no queue.
 */
export class BlockVerifier {
  private readonly waker = new Waker();

  constructor(
    private readonly lane: Lane,
    private readonly store: LedgerStore,
    private readonly runner: AppRunner,
    private readonly counts: VerificationCounts,
    private readonly events: TypedEvents<VerifierEvents>,
    private readonly logger: Logger,
  ) {
    lane.follower.events.on('block', () => this.waker.wake());
  }

  async run(signal: AbortSignal): Promise<void> {
    const retry = {
      baseMs: 50,
      capMs: 2_000,
      signal,
      onError: (error: unknown) => this.logger.warn('verifier read failed; retrying', { error }),
    };
    const { name } = this.lane;
    // Its own whole copy of the state, whatever the follower keeps in memory.
    const state = await retrying(async () => new LaneState(await this.store.snapshot(name)), retry);
    while (state && !signal.aborted) {
      if (state.height >= this.lane.follower.height) {
        await this.waker.wait(IDLE_WAIT_MS, signal);
        continue;
      }
      const batch = await retrying(async () => {
        const blocks = await this.store.blocksAfter(name, state.height, BATCH);
        return {
          blocks,
          bodies: await this.store.txBodies(
            name,
            blocks.flatMap((b) => b.txs),
          ),
        };
      }, retry);
      for (const block of batch?.blocks ?? []) this.verify(state, block, batch!.bodies);
    }
  }

  private verify(state: LaneState, block: BlockRecord, bodies: ReadonlyMap<string, string>): void {
    const app = block.version === null ? undefined : this.lane.appAt(block.version);
    if (!app) {
      this.counts.skipped++;
    } else {
      const txs = block.txs.map((id) => ({ id, body: bodies.get(id) ?? '' }));
      const overlay = state.overlay();
      const execution = { app, policy: this.lane, runner: this.runner };
      const results = executeTxs(execution, overlay, txs, block.height, block.time);
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
}
