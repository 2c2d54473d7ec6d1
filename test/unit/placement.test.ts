import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  pickSuccessor,
  planTransfers,
  spreadLanes,
  targetShares,
  type PlacementReplica,
} from '../../src/node/placement.js';

const r = (id: string, leads: number, priority = 0, eligible = true): PlacementReplica => ({
  id,
  leads,
  priority,
  eligible,
});

/** Applies transfers to the replicas' counts, as the cluster would after the handovers. */
function apply(replicas: PlacementReplica[], mode: 'active-active' | 'active-passive'): PlacementReplica[] {
  const counts = new Map(replicas.map((x) => [x.id, x.leads]));
  for (const t of planTransfers(mode, replicas)) {
    counts.set(t.from, counts.get(t.from)! - t.count);
    counts.set(t.to, counts.get(t.to)! + t.count);
  }
  return replicas.map((x) => ({ ...x, leads: counts.get(x.id)! }));
}

describe('placement', () => {
  it('spreads lanes evenly over equal replicas and then plans nothing', () => {
    const start = [r('r1', 1000), r('r2', 0), r('r3', 0)];
    const transfers = planTransfers('active-active', start);
    assert.deepEqual(transfers, [
      { from: 'r1', to: 'r2', count: 333 },
      { from: 'r1', to: 'r3', count: 333 },
    ]);
    const after = apply(start, 'active-active');
    assert.deepEqual(
      after.map((x) => x.leads),
      [334, 333, 333],
    );
    assert.deepEqual(planTransfers('active-active', after), []);
  });

  it('leaves a cluster whose shares differ by one alone (hysteresis)', () => {
    assert.deepEqual(planTransfers('active-active', [r('r1', 3), r('r2', 2), r('r3', 2)]), []);
    assert.deepEqual(planTransfers('active-active', [r('r1', 1), r('r2', 0), r('r3', 0)]), []);
    assert.deepEqual(planTransfers('active-active', [r('r1', 2), r('r2', 2), r('r3', 1)]), []);
  });

  it('moves lanes to a replica that joins, fewest moves', () => {
    const transfers = planTransfers('active-active', [r('r1', 3), r('r2', 3), r('r3', 0)]);
    assert.deepEqual(transfers, [
      { from: 'r1', to: 'r3', count: 1 },
      { from: 'r2', to: 'r3', count: 1 },
    ]);
  });

  it('does not give lanes to replicas that are not eligible yet', () => {
    assert.deepEqual(planTransfers('active-active', [r('r1', 6), r('r2', 0, 0, false)]), []);
  });

  it('moves every lane away from a replica that is not eligible', () => {
    const after = apply([r('r1', 4, 0, false), r('r2', 1), r('r3', 1)], 'active-active');
    assert.deepEqual(
      after.map((x) => x.leads),
      [0, 3, 3],
    );
  });

  it('prefers the highest priority: every lane goes to it', () => {
    const replicas = [r('r1', 2), r('r2', 2), r('r3', 2, 10)];
    assert.deepEqual(
      [...targetShares('active-active', replicas)],
      [
        ['r1', 0],
        ['r2', 0],
        ['r3', 6],
      ],
    );
    assert.deepEqual(
      apply(replicas, 'active-active').map((x) => x.leads),
      [0, 0, 6],
    );
  });

  it('spreads over the replicas sharing the highest priority', () => {
    const after = apply([r('r1', 6, 0), r('r2', 0, 5), r('r3', 0, 5)], 'active-active');
    assert.deepEqual(
      after.map((x) => x.leads),
      [0, 3, 3],
    );
  });

  it('falls back to lower priorities when no higher one is eligible', () => {
    assert.deepEqual(
      planTransfers('active-active', [r('r1', 2, 0), r('r2', 2, 0), r('r3', 0, 9, false)]),
      [],
    );
  });

  it('active-passive puts every lane on the replica already leading most', () => {
    const after = apply([r('r1', 1), r('r2', 4), r('r3', 1)], 'active-passive');
    assert.deepEqual(
      after.map((x) => x.leads),
      [0, 6, 0],
    );
    assert.deepEqual(planTransfers('active-passive', after), []);
  });

  it('active-passive on a fresh cluster picks one replica, by id', () => {
    assert.deepEqual(planTransfers('active-passive', [r('r1', 0), r('r2', 0)]), []);
    assert.equal(targetShares('active-passive', [r('r2', 0), r('r1', 0)]).get('r1'), 0);
  });

  it('picks the successor of a lane: highest priority, then fewest lanes, never the leaver', () => {
    assert.equal(pickSuccessor([r('r1', 5), r('r2', 3), r('r3', 1)], 'r1'), 'r3');
    assert.equal(pickSuccessor([r('r1', 5), r('r2', 3, 1), r('r3', 1)], 'r1'), 'r2');
    assert.equal(pickSuccessor([r('r1', 5), r('r2', 0, 0, false)], 'r1'), null);
  });

  it('spreads a leaving replica’s lanes evenly over the others', () => {
    const spread = spreadLanes([r('r1', 4), r('r2', 1), r('r3', 2)], 'r1', ['a', 'b', 'c', 'd']);
    assert.deepEqual(spread.get('r2'), ['a', 'b', 'd']);
    assert.deepEqual(spread.get('r3'), ['c']);
    assert.equal(spread.has('r1'), false);
  });
});
