import type { App } from '../apps/app.js';
import type { AppRegistry } from '../apps/registry.js';
import { TypedEvents } from '../events.js';
import { Waker } from '../waker.js';
import type { LaneFollower } from './follower.js';
import type { LaneRow } from './store.js';
import { isReservedKind, validateReserved, type UpgradePolicy } from './upgrades.js';
import { BatonError } from '../errors.js';

/** An app's validate threw: unknown_kind when its error says so, bad_args otherwise. */
function refusal(error: unknown): BatonError {
  if (error instanceof BatonError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = (error instanceof Error ? error.message : String(error)).slice(0, 200) || undefined;
  return new BatonError(code === 'unknown_kind' ? 'unknown_kind' : 'bad_args', message);
}

export interface LaneEvents extends Record<string, unknown> {
  /** The lane switched app versions: `runs` tells whether this replica has the new one. */
  'lane:app': { runs: boolean };
}

/**
 * Everything a replica keeps for one lane: its settings, its warm state (the follower), the
 * waker of its leader loop, and which of this replica's app code runs it now.
 */
export class Lane implements UpgradePolicy {
  readonly name: string;
  readonly appName: string;
  readonly approvers: readonly string[];
  readonly quorum: number;
  proposedVersion: string | null;
  readonly waker = new Waker();
  readonly events = new TypedEvents<LaneEvents>();
  /** Kept out of candidacy until this time (ms since epoch) after its leader loop stalled here. */
  cooldownUntil = 0;
  private readonly rowVersion: string | null;

  constructor(
    row: LaneRow,
    readonly follower: LaneFollower,
    private readonly apps: AppRegistry,
  ) {
    this.name = row.lane;
    this.appName = row.app;
    this.approvers = row.approvers.map((a) => a.toLowerCase());
    this.quorum = row.quorum;
    this.proposedVersion = row.proposedVersion;
    this.rowVersion = row.version;
    follower.events.on('block', (block) => {
      if (block.upgrade) {
        // The switch consumed the proposal (the database clears it in the same commit).
        if (this.proposedVersion === block.upgrade) this.proposedVersion = null;
        this.events.emit('lane:app', { runs: this.app() !== undefined });
      }
    });
  }

  /** The lane's active app version (null: a lane from before versions, until its next block). */
  get version(): string | null {
    return this.follower.loaded ? this.follower.current.version : this.rowVersion;
  }

  /**
   * The code that produces and serves the lane here: the active version of its app, or, for a
   * lane from before versions, the oldest version this replica has. Undefined when it has none.
   */
  app(): App | undefined {
    const version = this.version;
    if (version !== null) return this.apps.get(this.appName, version);
    const oldest = this.apps.versions(this.appName)[0];
    return oldest === undefined ? undefined : this.apps.get(this.appName, oldest);
  }

  /** This replica's code for `version` of the lane's app, if it has it. */
  appAt(version: string): App | undefined {
    return this.apps.get(this.appName, version);
  }

  /** Why this replica cannot produce or validate for the lane, or null when it can. */
  missing(): string | null {
    if (this.app()) return null;
    const version = this.version ?? 'any version';
    const have = this.apps.versions(this.appName);
    return `lane ${this.name} runs app ${this.appName} ${version}, which this replica does not have${
      have.length > 0 ? ` (it has ${have.join(', ')})` : ''
    }`;
  }

  /** Intake's check of a transaction's kind and arguments: Baton's reserved kinds, else the app's. */
  validate(kind: string, args: unknown): void {
    if (isReservedKind(kind)) return validateReserved(kind, args, this);
    const app = this.app();
    if (!app) throw new BatonError('app_unavailable', this.missing() ?? undefined);
    try {
      app.validate(kind, args);
    } catch (error) {
      throw refusal(error);
    }
  }

  /** Takes the lane's row as the database has it now (a proposal made or withdrawn). */
  update(row: LaneRow): void {
    if (row.proposedVersion === this.proposedVersion) return;
    this.proposedVersion = row.proposedVersion;
    this.waker.wake(); // its leader may have a switch to write
  }
}
