import type { AppReadState, JsonValue } from '../apps/app.js';
import type { ScratchState } from '../apps/runner.js';
import { deepFreeze } from '../apps/values.js';
import type { BlockRecord, StateChange } from './block.js';
import type { StateSnapshot } from './store.js';

/** A replica's in-memory copy of one lane: its tip, its active app version and its app state. */
export class LaneState implements AppReadState {
  height: number;
  tipHash: string;
  tipTimeMs: number;
  /** The app version the next block must be produced by (null: a lane from before versions). */
  version: string | null;
  private readonly values: Map<string, JsonValue>;

  constructor(snapshot: StateSnapshot) {
    this.height = snapshot.height;
    this.tipHash = snapshot.tipHash;
    this.tipTimeMs = snapshot.tipTime;
    this.version = snapshot.version ?? null;
    this.values = new Map(snapshot.entries);
    for (const value of this.values.values()) deepFreeze(value);
  }

  get(key: string): JsonValue | undefined {
    return this.values.get(key);
  }

  /** An independent copy (values are frozen, so they are shared). */
  copy(): LaneState {
    return new LaneState({
      height: this.height,
      tipHash: this.tipHash,
      tipTime: this.tipTimeMs,
      version: this.version,
      entries: [...this.values],
    });
  }

  /**
   * Applies the next block. Returns false (and changes nothing) when `block` is not the
   * successor of the tip, so callers can apply idempotently and detect gaps.
   */
  applyNext(block: BlockRecord): boolean {
    if (block.height !== this.height + 1 || block.parentHash !== this.tipHash) return false;
    for (const [key, value] of block.changes) this.values.set(key, deepFreeze(value));
    this.version = block.upgrade ?? block.version ?? this.version;
    this.height = block.height;
    this.tipHash = block.hash;
    this.tipTimeMs = Date.parse(block.time);
    return true;
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
