import type { JsonValue } from '../apps/app.js';
import { QueryError } from '../apps/runner.js';
import { BatonError } from '../errors.js';
import type { Lane } from '../ledger/lane.js';
import type { LaneState } from '../ledger/lane-state.js';
import type { ApiContext } from './context.js';

/** How long a read waits for this replica's warm state to reach the committed tip. */
const TIP_WAIT_MS = 2_000;

/**
 * Runs `read` over the lane's warm state once it holds every block committed before the request
 * (read-your-writes from any replica): one height query, and a wait only while a block is in flight.
 */
export async function readAtTip<T>(ctx: ApiContext, lane: Lane, read: (state: LaneState) => T): Promise<T> {
  const tip = await ctx.store.laneHeight(lane.name);
  if (tip === null) throw new BatonError('unknown_lane');
  const { follower } = lane;
  await follower.reach(tip, TIP_WAIT_MS);
  const state = follower.current;
  return state.resolve(() => read(state));
}

/** Runs the app's named query for the lane; coded errors for what can go wrong. */
export function runQuery(
  ctx: ApiContext,
  lane: Lane,
  state: LaneState,
  name: string,
  args: unknown,
): JsonValue {
  const app = lane.app();
  if (!app) throw new BatonError('app_unavailable', lane.missing() ?? undefined);
  try {
    return ctx.runner.query(app, name, state, args);
  } catch (error) {
    if (!(error instanceof QueryError)) throw error;
    if (error.kind === 'unknown')
      throw new BatonError(
        'unknown_query',
        `app ${app.name} ${app.version} has no query "${name.slice(0, 80)}"`,
      );
    if (error.kind === 'timeout') throw new BatonError('timeout', error.message);
    throw new BatonError('bad_args', error.message);
  }
}
