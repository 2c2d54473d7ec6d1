import { BatonError } from '../errors.js';
import type { Logger } from '../log.js';
import { TypedEvents } from '../events.js';
import { blockHash, type BlockRecord } from './block.js';
import { LaneState, type StateSource } from './lane-state.js';
import { RecentBlocks } from './recent-blocks.js';
import type { LedgerStore } from './store.js';

export interface FollowerEvents extends Record<string, unknown> {
  block: BlockRecord;
}

const FETCH_LIMIT = 200;
/** How long a read that needs a newer block than this replica has applied waits for it. */
const REACH_TIMEOUT_MS = 5_000;

/**
 * Keeps one lane's warm state current from committed blocks. Every replica runs one per lane,
 * leader included, so a new leader continues from the tip at once instead of replaying.
 * Applying is idempotent by height: a block already applied is skipped, a gap triggers a fetch.
 */
export class LaneFollower {
  readonly events = new TypedEvents<FollowerEvents>();
  /** The latest blocks, for stream subscribers that are (nearly) live. */
  readonly recent = new RecentBlocks();
  private state: LaneState | null = null;
  private catchUpRun: Promise<void> | null = null;
  private catchUpAgain = false;

  constructor(
    readonly lane: string,
    private readonly store: LedgerStore,
    private readonly logger: Logger,
    /** Lanes with more keys than this start with none in memory and read them through (see LaneState). */
    private readonly maxKeys = Number.POSITIVE_INFINITY,
  ) {}

  get loaded(): boolean {
    return this.state !== null;
  }

  get height(): number {
    return this.state?.height ?? 0;
  }

  /** The warm state; only valid after `load()`. */
  get current(): LaneState {
    if (!this.state) throw new Error(`lane ${this.lane} is not loaded`);
    return this.state;
  }

  async load(): Promise<void> {
    const source: StateSource = {
      read: (keys) => this.store.stateRows(this.lane, keys),
      reach: (height) => this.reach(height),
    };
    this.state = new LaneState(await this.store.snapshot(this.lane, this.maxKeys), source, this.maxKeys);
    this.logger.info('lane state loaded', {
      height: this.state.height,
      keys: this.state.cachedKeys,
      whole: this.state.holdsEveryKey,
    });
  }

  /**
   * Resolves once block `height` is applied here (fetching it if need be); after `timeoutMs`
   * rejects with `unavailable` (a read then answers 503, a leader retries).
   */
  async reach(height: number, timeoutMs = REACH_TIMEOUT_MS): Promise<void> {
    if (this.height >= height) return;
    this.requestCatchUp();
    await this.events
      .waitFor('block', () => this.height >= height, AbortSignal.timeout(timeoutMs))
      .catch(() => {
        throw new BatonError(
          'unavailable',
          `this replica has not applied block ${height} of lane ${this.lane} within ${timeoutMs} ms; retry`,
        );
      });
  }

  /** Applies a block this replica knows was committed (its own, or one it fetched). */
  offer(block: BlockRecord): boolean {
    const state = this.state;
    if (!state || block.height <= state.height) return false;
    if (!state.applyNext(block)) {
      this.requestCatchUp();
      return false;
    }
    this.applied(block);
    return true;
  }

  /**
   * A block that arrived in its commit notification. Only the next block is taken, and only when
   * its hash matches its content; anything else is left to the fetch the notification also asks for.
   */
  offerNotified(block: BlockRecord): void {
    if (!this.state || block.height !== this.state.height + 1) return;
    let intact = false;
    try {
      intact = blockHash(block) === block.hash;
    } catch {
      // not a block after all
    }
    if (intact) this.offer(block);
  }

  private applied(block: BlockRecord): void {
    this.recent.push(block);
    this.events.emit('block', block);
  }

  /** Coalesces concurrent requests: at most one fetch runs, and one more follows if asked meanwhile. */
  requestCatchUp(): void {
    if (this.catchUpRun) {
      this.catchUpAgain = true;
      return;
    }
    this.catchUpRun = this.catchUp()
      .catch((error: unknown) => this.logger.warn('catch-up failed', { error }))
      .finally(() => {
        this.catchUpRun = null;
        if (this.catchUpAgain) {
          this.catchUpAgain = false;
          this.requestCatchUp();
        }
      });
  }

  /** Fetches and applies every committed block above the local tip. */
  async catchUp(): Promise<void> {
    if (!this.state) await this.load();
    for (;;) {
      const blocks = await this.store.blocksAfter(this.lane, this.current.height, FETCH_LIMIT);
      for (const block of blocks) {
        if (block.height <= this.current.height) continue;
        if (!this.current.applyNext(block)) {
          throw new Error(
            `block ${block.height} of lane ${this.lane} does not extend the local tip ${this.current.height}`,
          );
        }
        this.applied(block);
      }
      if (blocks.length < FETCH_LIMIT) return;
    }
  }
}
