import type { AppReadState, JsonValue } from '../apps/app.js';
import type { ScratchState } from '../apps/runner.js';
import { deepFreeze } from '../apps/values.js';
import type { BlockRecord, StateChange } from './block.js';
import type { StateSnapshot } from './store.js';

/** Where a lane state that does not hold every key reads the ones it lacks. */
export interface StateSource {
  /** The stored values of `keys`, each with the height of the block that wrote it; absent keys are left out. */
  read(keys: readonly string[]): Promise<Array<{ key: string; value: JsonValue; height: number }>>;
  /** Resolves once the state has applied block `height` (its follower caught up). */
  reach(height: number): Promise<void>;
}

/** A key known to have no value (never written up to this state's height). */
const ABSENT = Symbol('absent');

/**
 * A replica's in-memory copy of one lane: its tip, its active app version and its app state.
 *
 * The state is held whole when the lane has at most `maxKeys` keys at load time; a larger lane
 * starts with none and reads keys through to the database as they are needed, keeping at most
 * about `maxKeys` of them. Reads run in passes (`resolve`): a synchronous pass (a block's
 * transactions, a query) reads what is held, notes the keys it lacks, and is run again once they
 * are fetched, so app code stays synchronous and sees exactly the state at this height.
 */
export class LaneState implements AppReadState {
  height: number;
  tipHash: string;
  tipTimeMs: number;
  /** The app version the next block must be produced by (null: a lane from before versions). */
  version: string | null;
  private readonly cache = new Map<string, JsonValue | typeof ABSENT>();
  /** Every key of the lane is in the cache (a key not there has no value). */
  private complete: boolean;
  /** Keys a pass read but the cache lacks; null outside passes. */
  private misses: Set<string> | null = null;
  /** Fetches in flight: eviction waits for them (an evicted key could be refilled with an older value). */
  private filling = 0;

  constructor(
    snapshot: StateSnapshot,
    private readonly source: StateSource | null = null,
    private readonly maxKeys = Number.POSITIVE_INFINITY,
  ) {
    this.height = snapshot.height;
    this.tipHash = snapshot.tipHash;
    this.tipTimeMs = snapshot.tipTime;
    this.version = snapshot.version ?? null;
    this.complete = snapshot.complete ?? true;
    if (!this.complete && !source) throw new Error('a partial lane state needs a source to read keys from');
    for (const [key, value] of snapshot.entries) this.cache.set(key, deepFreeze(value));
  }

  /** Keys held in memory now. */
  get cachedKeys(): number {
    return this.cache.size;
  }

  get holdsEveryKey(): boolean {
    return this.complete;
  }

  get(key: string): JsonValue | undefined {
    const value = this.cache.get(key);
    if (value !== undefined) return value === ABSENT ? undefined : value;
    if (this.complete) return undefined;
    if (!this.misses) throw new Error(`lane state read of "${key}" outside a pass (use resolve)`);
    this.misses.add(key);
    return undefined;
  }

  /**
   * Runs the synchronous `pass` until it reads only keys this state holds, fetching the ones it
   * lacked between runs. A pass must not keep anything from a run that lacked keys.
   */
  async resolve<T>(pass: () => T): Promise<T> {
    for (;;) {
      const misses = new Set<string>();
      this.misses = misses;
      let out: T;
      try {
        out = pass();
      } finally {
        this.misses = null;
      }
      if (misses.size === 0) return out;
      await this.fill([...misses]);
    }
  }

  /** Reads `keys` from the source into the cache, as of this state's height. */
  private async fill(keys: string[]): Promise<void> {
    this.filling++;
    try {
      const rows = await this.source!.read(keys);
      const found = new Map(rows.map((r) => [r.key, r]));
      let ahead = 0;
      for (const key of keys) {
        if (this.cache.has(key)) continue; // a block applied meanwhile wrote it: newer than the read
        const row = found.get(key);
        // A value written above this height is not this state's: wait to apply that block.
        if (row && row.height > this.height) ahead = Math.max(ahead, row.height);
        else this.cache.set(key, row ? deepFreeze(row.value) : ABSENT);
      }
      if (ahead > 0) await this.source!.reach(ahead);
    } finally {
      this.filling--;
    }
  }

  /**
   * Applies the next block. Returns false (and changes nothing) when `block` is not the
   * successor of the tip, so callers can apply idempotently and detect gaps.
   */
  applyNext(block: BlockRecord): boolean {
    if (block.height !== this.height + 1 || block.parentHash !== this.tipHash) return false;
    for (const [key, value] of block.changes) {
      this.cache.delete(key); // written keys move to the young end of the eviction order
      this.cache.set(key, deepFreeze(value));
    }
    this.version = block.upgrade ?? block.version ?? this.version;
    this.height = block.height;
    this.tipHash = block.hash;
    this.tipTimeMs = Date.parse(block.time);
    this.evict();
    return true;
  }

  /** Drops the oldest-written keys above `maxKeys`; from then on keys not held are read through. */
  private evict(): void {
    if (this.cache.size <= this.maxKeys || this.filling > 0 || !this.source) return;
    for (const key of this.cache.keys()) {
      if (this.cache.size <= this.maxKeys) break;
      this.cache.delete(key);
    }
    this.complete = false;
  }

  /** A scratch layer for building a block: reads fall through to this state, writes stay local. */
  overlay(): StateOverlay {
    return new StateOverlay(this);
  }
}

/** A point to roll an overlay back to: the length of its undo journal. */
export type Checkpoint = number;

export class StateOverlay implements ScratchState {
  private readonly writes = new Map<string, JsonValue>();
  /** Undo journal: each write's key and what the overlay held for it before (undefined: nothing). */
  private readonly journal: Array<[string, JsonValue | undefined]> = [];

  constructor(private readonly base: LaneState) {}

  get(key: string): JsonValue | undefined {
    return this.writes.has(key) ? this.writes.get(key) : this.base.get(key);
  }

  set(key: string, value: JsonValue): void {
    this.journal.push([key, this.writes.get(key)]);
    this.writes.set(key, value);
  }

  /** Marks a point to roll back to if the next transaction throws or is refused. O(1). */
  checkpoint(): Checkpoint {
    return this.journal.length;
  }

  /** Undoes every write made since `checkpoint`. */
  restore(checkpoint: Checkpoint): void {
    while (this.journal.length > checkpoint) {
      const [key, previous] = this.journal.pop()!;
      if (previous === undefined) this.writes.delete(key);
      else this.writes.set(key, previous);
    }
  }

  changes(): StateChange[] {
    return [...this.writes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}
