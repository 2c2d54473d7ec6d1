import type { Elector } from '../coordination/elector.js';
import type { Logger } from '../log.js';
import type { TypedEvents } from '../events.js';
import type { LaneRuntime } from '../api/context.js';
import { runLeader, type LeaderLimits } from '../ledger/leader.js';
import type { LedgerStore } from '../ledger/store.js';
import type { Waker } from '../waker.js';
import { backoffMs, sleep } from '../time.js';
import type { ReplicaEvents } from './events.js';

interface Term {
  term: number;
  controller: AbortController;
  done: Promise<void>;
}

export interface LeadershipOptions {
  replicaId: string;
  elector: Elector;
  store: LedgerStore;
  lanes: ReadonlyMap<string, LaneRuntime>;
  wakers: ReadonlyMap<string, Waker>;
  limits: LeaderLimits;
  logger: Logger;
  events: TypedEvents<ReplicaEvents>;
}

/**
 * Turns elector grants into leader loops: one AbortController per (lane, term), aborted the
 * moment the elector reports the term lost. Before producing, the term is claimed in the
 * ledger's fence, so no block of an older term can commit after this term's first block.
 */
export class Leadership {
  private readonly terms = new Map<string, Term>();
  private readonly unsubscribe: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly options: LeadershipOptions) {}

  start(): void {
    const { elector } = this.options;
    this.unsubscribe.push(
      elector.events.on('lane:elected', ({ lane, term }) => this.begin(lane, term)),
      elector.events.on('lane:lost', ({ lane, term, reason }) => {
        const current = this.terms.get(lane);
        if (current?.term === term) current.controller.abort(new Error(`lost: ${reason}`));
        this.options.events.emit('lane:lost', { lane, term, reason });
      }),
    );
  }

  /** Lanes this replica is producing right now, with their terms. */
  leading(): Map<string, number> {
    return new Map([...this.terms].map(([lane, t]) => [lane, t.term]));
  }

  /**
   * Planned handover: each leader loop stops after its in-flight commit, then its lane is
   * resigned so another replica acquires it on its next tick (woken by NOTIFY), with no lease wait.
   */
  async handOver(): Promise<void> {
    this.stopped = true;
    const running = [...this.terms.entries()];
    for (const [, t] of running) t.controller.abort(new Error('handing over'));
    await Promise.all(
      running.map(async ([lane, t]) => {
        await t.done;
        await this.options.elector.resign(lane);
      }),
    );
    await this.options.elector.resignAll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.unsubscribe.splice(0)) off();
    const running = [...this.terms.values()];
    for (const t of running) t.controller.abort(new Error('stopping'));
    await Promise.all(running.map((t) => t.done));
  }

  private begin(lane: string, term: number): void {
    if (this.stopped) {
      void this.options.elector.resign(lane);
      return;
    }
    const previous = this.terms.get(lane);
    previous?.controller.abort(new Error('superseded'));
    const controller = new AbortController();
    const entry: Term = { term, controller, done: Promise.resolve() };
    entry.done = (previous?.done ?? Promise.resolve())
      .then(() => this.lead(lane, term, controller.signal))
      .catch((error: unknown) => this.options.logger.error('leader loop crashed', { lane, term, error }))
      .finally(() => {
        if (this.terms.get(lane) === entry) this.terms.delete(lane);
      });
    this.terms.set(lane, entry);
  }

  private async lead(lane: string, term: number, signal: AbortSignal): Promise<void> {
    const { elector, store, logger, events } = this.options;
    const runtime = this.options.lanes.get(lane);
    const waker = this.options.wakers.get(lane);
    const log = logger.child({ lane, term });
    if (!runtime || !waker) {
      log.warn('elected for a lane this replica does not serve; resigning');
      await elector.resign(lane);
      return;
    }
    if (!(await this.claim(lane, term, signal))) {
      if (!signal.aborted) {
        log.warn('a newer term exists in the ledger; resigning');
        await elector.resign(lane);
      }
      return;
    }
    log.info('leading lane');
    events.emit('lane:elected', { lane, term });
    const exit = await runLeader(
      {
        lane,
        term,
        producer: this.options.replicaId,
        app: runtime.app,
        store,
        follower: runtime.follower,
        waker,
        limits: this.options.limits,
        logger: log,
        events,
        stillLeads: () => elector.holds(lane, term),
      },
      signal,
    );
    log.info('stopped leading lane', { exit });
    // 'lost': the loop could not prove its term just before a commit, but the elector may still
    // hold (and go on renewing) the lease if the renewal landed a moment later; without a loop
    // for it the lane would then be orphaned. Give it up so a new term takes it.
    if (exit === 'fenced' || exit === 'lost') await elector.resign(lane);
  }

  private async claim(lane: string, term: number, signal: AbortSignal): Promise<boolean> {
    for (let attempt = 0; !signal.aborted && this.options.elector.holds(lane, term); attempt++) {
      try {
        return await this.options.store.claimTerm(lane, term);
      } catch (error) {
        this.options.logger.warn('claiming the term failed, retrying', { lane, term, error });
        await sleep(backoffMs(attempt, 20, 500), signal);
      }
    }
    return false;
  }
}
