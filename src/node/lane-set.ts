import type { AppRegistry } from '../apps/registry.js';
import { TypedEvents } from '../events.js';
import { LaneFollower } from '../ledger/follower.js';
import { Lane } from '../ledger/lane.js';
import type { LaneRow, LedgerStore } from '../ledger/store.js';
import type { Logger } from '../log.js';

export interface LaneSetEvents extends Record<string, unknown> {
  /** A lane is served here now (its warm state is loaded). */
  'lane:added': Lane;
  /** A lane's code here changed: upgraded to a version this replica has, or lacks. */
  'lane:app': { lane: Lane; runs: boolean };
}

/** The lanes a replica serves: one Lane object each, added once, announced to whoever follows. */
export class LaneSet {
  readonly events = new TypedEvents<LaneSetEvents>();
  private readonly lanes = new Map<string, Lane>();
  private readonly adding = new Map<string, Promise<Lane>>();

  constructor(
    private readonly store: LedgerStore,
    private readonly apps: AppRegistry,
    private readonly logger: Logger,
    /** Most state keys a lane keeps in memory (see LaneState). */
    private readonly stateCacheKeys = Number.POSITIVE_INFINITY,
  ) {}

  /** The lanes by name (for lookups by the API and the leadership). */
  get map(): ReadonlyMap<string, Lane> {
    return this.lanes;
  }

  get size(): number {
    return this.lanes.size;
  }

  get(name: string): Lane | undefined {
    return this.lanes.get(name);
  }

  values(): IterableIterator<Lane> {
    return this.lanes.values();
  }

  /** Serves a lane: loads its warm state once, however often it is announced meanwhile. */
  add(row: LaneRow): Promise<Lane> {
    const known = this.lanes.get(row.lane);
    if (known) {
      known.update(row);
      return Promise.resolve(known);
    }
    let adding = this.adding.get(row.lane);
    if (!adding) {
      adding = this.load(row).finally(() => this.adding.delete(row.lane));
      this.adding.set(row.lane, adding);
    }
    return adding;
  }

  /** Serves every lane of `rows` not served yet, and takes the others' current settings. */
  async sync(rows: readonly LaneRow[]): Promise<void> {
    await Promise.all(rows.map((row) => this.add(row)));
  }

  private async load(row: LaneRow): Promise<Lane> {
    const log = this.logger.child({ lane: row.lane });
    const follower = new LaneFollower(row.lane, this.store, log, this.stateCacheKeys);
    await follower.load();
    const lane = new Lane(row, follower, this.apps);
    lane.events.on('lane:app', ({ runs }) => this.events.emit('lane:app', { lane, runs }));
    this.lanes.set(row.lane, lane);
    this.events.emit('lane:added', lane);
    return lane;
  }
}
