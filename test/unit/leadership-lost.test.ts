import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppRegistry } from '../../src/apps/registry.js';
import { AppRunner } from '../../src/apps/runner.js';
import { Lane } from '../../src/ledger/lane.js';
import type { Elector, ElectorEvents, ElectorQueryCounts } from '../../src/coordination/elector.js';
import { GENESIS_PARENT } from '../../src/db/migrations.js';
import { TypedEvents } from '../../src/events.js';
import { LaneFollower } from '../../src/ledger/follower.js';
import { DEFAULT_LEADER_LIMITS } from '../../src/ledger/leader.js';
import type { LedgerStore } from '../../src/ledger/store.js';
import { silentLogger } from '../../src/log.js';
import type { ReplicaEvents } from '../../src/node/events.js';
import { Leadership } from '../../src/node/leadership.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * An elector whose proof of leadership lapses for one look only: the leader loop's check just
 * before a commit finds the renewal late, and the renewal lands a moment later, so the elector
 * itself never drops the lane. (Seen in a chaos run under load with a 600 ms lease: lane b of
 * seed 1364725422 produced nothing for 20 s while its lease was renewed all along.)
 */
class LapsingElector implements Elector {
  readonly kind = 'fake';
  readonly events = new TypedEvents<ElectorEvents>();
  readonly resigned: string[] = [];
  lapses = 0;
  /** A lapse also re-elects this replica under the next term, as a late renewal racing an acquire can. */
  regrantOnLapse = false;
  private held = new Map<string, number>();

  grant(lane: string, term: number): void {
    this.held.set(lane, term);
    this.events.emit('lane:elected', { lane, term });
  }

  setCandidacy(): void {}

  holds(lane: string, term: number): boolean {
    if (this.held.get(lane) !== term) return false;
    if (this.lapses > 0) {
      this.lapses--;
      if (this.regrantOnLapse) this.grant(lane, term + 1);
      return false;
    }
    return true;
  }

  resign(lane: string): Promise<void> {
    const term = this.held.get(lane);
    if (term === undefined) return Promise.resolve();
    this.held.delete(lane);
    this.resigned.push(lane);
    this.events.emit('lane:lost', { lane, term, reason: 'resigned' });
    return Promise.resolve();
  }

  async resignTerm(lane: string, term: number): Promise<void> {
    if (this.held.get(lane) === term) await this.resign(lane);
  }

  async resignLanes(lanes: readonly string[]): Promise<void> {
    for (const lane of lanes) await this.resign(lane);
  }

  async resignAll(): Promise<void> {
    await this.resignLanes([...this.held.keys()]);
  }

  poke(): void {}

  queryCounts(): ElectorQueryCounts {
    return { acquire: 0, renew: 0, resign: this.resigned.length };
  }

  run(): Promise<void> {
    return Promise.resolve();
  }
}

const body = JSON.stringify({
  lane: 'main',
  from: 'a'.repeat(64),
  kind: 'faucet',
  args: { amount: 1 },
  nonce: 1,
});

/** Just enough of the store for a leader loop: one pending transaction, an empty chain. */
const store = {
  claimTerms: (claims: unknown[]) => Promise.resolve(claims.map(() => 0)),
  pendingOf: (lanes: string[]) => Promise.resolve(lanes.map(() => [{ id: 'f'.repeat(64), body }])),
  snapshot: () =>
    Promise.resolve({ height: 0, tipHash: GENESIS_PARENT, tipTime: 0, version: '1.0.0', entries: [] }),
  blocksAfter: () => Promise.resolve([]),
  pending: () => Promise.resolve([{ id: 'f'.repeat(64), body }]),
  commitBlock: () => new Promise<void>(() => undefined), // never needed: the loop stops before
} as unknown as LedgerStore;

/** A started Leadership of lane "main" over `elector` and `ledger`, and the events it emits. */
function startLeadership(elector: Elector, ledger: LedgerStore) {
  const row = {
    lane: 'main',
    app: 'token',
    term: 0,
    height: 0,
    version: '1.0.0',
    proposedVersion: null,
    approvers: [],
    quorum: 0,
  };
  const runtime = new Lane(row, new LaneFollower('main', ledger, silentLogger), new AppRegistry());
  const events = new TypedEvents<ReplicaEvents>();
  const leadership = new Leadership({
    replicaId: 'r1',
    elector,
    store: ledger,
    lanes: new Map([['main', runtime]]),
    runner: new AppRunner(),
    limits: { ...DEFAULT_LEADER_LIMITS, maxBlockTxs: 10, idlePollMs: 50 },
    logger: silentLogger,
    events,
  });
  leadership.start();
  return { leadership, events };
}

test('a leader loop that finds its lease unproven before a commit gives the lane up, so it is not orphaned', async () => {
  const elector = new LapsingElector();
  const { leadership, events } = startLeadership(elector, store);
  // The claim looks once; the check before the commit is the lapse.
  elector.lapses = 0;
  const claimed = events.waitFor('lane:elected', (e) => e.lane === 'main', AbortSignal.timeout(5_000));
  elector.grant('main', 1);
  await claimed;
  elector.lapses = 1;
  // A timer that keeps the process alive (AbortSignal.timeout's does not), so a lane that stays
  // orphaned fails here instead of ending the event loop.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error('the lane stayed orphaned: no lane:lost')), 5_000);
  try {
    await events.waitFor('lane:lost', (e) => e.lane === 'main', deadline.signal);
  } finally {
    clearTimeout(timer);
  }
  assert.deepEqual(elector.resigned, ['main'], 'the lease is released for another term');
  await waitUntil(() => leadership.leading().size === 0, { message: 'the leader loop ended' });
  await leadership.stop();
});

test('a leader loop that ends unproven leaves alone the newer term its replica was elected to meanwhile', async () => {
  const elector = new LapsingElector();
  const committing = { ...store, commitBlock: () => Promise.resolve() } as unknown as LedgerStore;
  const { leadership, events } = startLeadership(elector, committing);
  const first = events.waitFor('lane:elected', (e) => e.term === 1, AbortSignal.timeout(5_000));
  elector.grant('main', 1);
  await first;
  // The term-2 loop starts only after the term-1 loop (and its give-up) ended.
  const second = events.waitFor('lane:elected', (e) => e.term === 2, AbortSignal.timeout(5_000));
  elector.regrantOnLapse = true;
  elector.lapses = 1;
  await second;
  assert.deepEqual(elector.resigned, [], 'the term-1 loop must not release term 2');
  assert.equal(leadership.leading().get('main'), 2);
  await leadership.stop();
});
