import type { Elector } from '../coordination/elector.js';
import type { Logger } from '../log.js';
import type { TypedEvents } from '../events.js';
import type { AppRunner } from '../apps/runner.js';
import type { Lane } from '../ledger/lane.js';
import { runLeader, type LeaderLimits } from '../ledger/leader.js';
import type { LedgerStore, PendingTx } from '../ledger/store.js';
import { backoffMs, monotonicMs, settlesWithin, sleep } from '../time.js';
import type { ReplicaEvents } from './events.js';
import { Coalescer } from '../coalescer.js';

interface Term {
  term: number;
  controller: AbortController;
  done: Promise<void>;
  /** Monotonic time the term began here. */
  since: number;
  /** Last time the lane was seen without pending transactions, or committed a block. */
  progressAt: number;
}

/** A lane's first steps under a new term, started when it was handed over, before it is confirmed. */
interface Preparation {
  term: number;
  /** The follower's height when the pending read was sent (null: not loaded, no read). */
  heightBefore: number | null;
  claim: Promise<number | null>;
  pending: Promise<PendingTx[] | null>;
}

/** How long a handover waits for an in-flight commit before resigning anyway (fencing keeps it safe). */
const HANDOVER_WAIT_MS = 2_000;

export interface LeadershipOptions {
  replicaId: string;
  elector: Elector;
  store: LedgerStore;
  lanes: ReadonlyMap<string, Lane>;
  runner: AppRunner;
  limits: LeaderLimits;
  logger: Logger;
  events: TypedEvents<ReplicaEvents>;
  /** A lane this replica leads has had pending transactions and no commit for `limits.stallMs`. */
  onStall?: (lane: string, term: number, idleMs: number) => void;
  /**
   * A lane this replica led switched to an app version it does not have: the replica that runs
   * it and should take the lane by planned handover (undefined: whoever takes it first).
   */
  successorFor?: (lane: string) => Promise<string | undefined>;
}

/**
 * Turns elector grants into leader loops: one AbortController per (lane, term), aborted the
 * moment the elector reports the term lost. Before producing, the term is claimed in the
 * ledger's fence, so no block of an older term can commit after this term's first block.
 */
export class Leadership {
  private readonly terms = new Map<string, Term>();
  private readonly prepared = new Map<string, Preparation>();
  private readonly unsubscribe: Array<() => void> = [];
  private stopped = false;

  /** Lanes taken over together (a drain, a rebalance, a killed peer) are claimed in one query. */
  private readonly claims: Coalescer<{ lane: string; term: number }, number | null>;
  /** …and their pending transactions read in one query beside it. */
  private readonly pendingReads: Coalescer<string, PendingTx[]>;

  constructor(private readonly options: LeadershipOptions) {
    this.claims = new Coalescer((claims) => options.store.claimTerms(claims));
    this.pendingReads = new Coalescer((lanes) => options.store.pendingOf(lanes, options.limits.maxBlockTxs));
  }

  start(): void {
    const { elector, events } = this.options;
    this.unsubscribe.push(
      events.on('block:committed', ({ lane, term }) => {
        const current = this.terms.get(lane);
        if (current?.term === term) current.progressAt = monotonicMs();
      }),
      elector.events.on('lane:granted', ({ lane, term }) => this.prepare(lane, term)),
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

  /** Up to `count` lanes to give away, those led longest first, none led for less than `minHoldMs`. */
  givable(count: number, minHoldMs: number): string[] {
    const now = monotonicMs();
    return [...this.terms]
      .filter(([, t]) => now - t.since >= minHoldMs && !t.controller.signal.aborted)
      .sort(([, a], [, b]) => a.since - b.since)
      .slice(0, count)
      .map(([lane]) => lane);
  }

  /**
   * Planned handover of some lanes: their leader loops stop after the in-flight commit, then the
   * leases are given up in one query, reserved for `to` when given, so it takes them at once.
   */
  async handOverLanes(lanes: readonly string[], to?: string): Promise<void> {
    const running = lanes.flatMap((lane) => {
      const t = this.terms.get(lane);
      return t ? [t] : [];
    });
    for (const t of running) t.controller.abort(new Error('handing over'));
    await settlesWithin(Promise.all(running.map((t) => t.done)), HANDOVER_WAIT_MS);
    await this.options.elector.resignLanes(lanes, to);
  }

  /**
   * Gives a stalled lane up without waiting for its leader loop, which may be stuck in a commit:
   * whatever that commit does, the successor's term fences it.
   */
  async abandon(lane: string, to?: string): Promise<void> {
    this.terms.get(lane)?.controller.abort(new Error('stalled'));
    await this.options.elector.resignLanes([lane], to);
  }

  /**
   * Wakes leader loops whose lanes have pending transactions (a lost notification costs at most
   * one poll) and reports lanes that have had pending transactions without a commit for too long.
   * One query per poll, however many lanes this replica leads.
   */
  async watchProgress(signal: AbortSignal): Promise<void> {
    const { limits, store, lanes, logger } = this.options;
    while (!signal.aborted) {
      await sleep(limits.idlePollMs, signal);
      const led = [...this.terms.keys()];
      if (led.length === 0 || signal.aborted) continue;
      let pending: Set<string>;
      try {
        pending = await store.lanesWithPending(led);
      } catch (error) {
        logger.debug('pending poll failed', { error });
        continue;
      }
      const now = monotonicMs();
      for (const lane of led) {
        const t = this.terms.get(lane);
        if (!t || t.controller.signal.aborted) continue;
        if (!pending.has(lane)) {
          t.progressAt = now;
          continue;
        }
        lanes.get(lane)?.waker.wake();
        const idleMs = now - t.progressAt;
        if (idleMs >= limits.stallMs) {
          t.progressAt = now; // report each stall once per stallMs
          this.options.onStall?.(lane, t.term, Math.round(idleMs));
        }
      }
    }
  }

  /**
   * Planned handover: each leader loop stops after its in-flight commit, then its lane is
   * resigned so another replica acquires it on its next tick (woken by NOTIFY), with no lease wait.
   */
  async handOver(): Promise<void> {
    this.stopped = true;
    await this.handOverLanes([...this.terms.keys()]);
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
    const now = monotonicMs();
    const entry: Term = { term, controller, done: Promise.resolve(), since: now, progressAt: now };
    entry.done = (previous?.done ?? Promise.resolve())
      .then(() => this.lead(lane, term, controller.signal))
      .catch((error: unknown) => this.options.logger.error('leader loop crashed', { lane, term, error }))
      .finally(() => {
        if (this.terms.get(lane) === entry) this.terms.delete(lane);
      });
    this.terms.set(lane, entry);
  }

  /**
   * A lane handed to this replica: its term is claimed and its pending transactions read while
   * the elector confirms the lease, so the first block can follow the confirmation at once.
   * Claiming before the confirmation is safe: the term was granted to this replica, and a newer
   * one (if the lease moved on meanwhile) wins the claim over it.
   */
  private prepare(lane: string, term: number): void {
    const runtime = this.options.lanes.get(lane);
    if (this.stopped || !runtime) return;
    this.prepared.set(lane, {
      term,
      ...this.readAhead(runtime),
      claim: this.claims.get({ lane, term }).catch(() => null),
    });
  }

  /** Reads the lane's pending transactions now, noting the height the read started from. */
  private readAhead(lane: Lane): Pick<Preparation, 'heightBefore' | 'pending'> {
    const heightBefore = lane.follower.loaded ? lane.follower.height : null;
    return {
      heightBefore,
      pending:
        heightBefore === null ? Promise.resolve(null) : this.pendingReads.get(lane.name).catch(() => null),
    };
  }

  private async lead(lane: string, term: number, signal: AbortSignal): Promise<void> {
    const { elector, store, logger, events } = this.options;
    const runtime = this.options.lanes.get(lane);
    const log = logger.child({ lane, term });
    if (!runtime) {
      log.warn('elected for a lane this replica does not serve; resigning');
      await elector.resign(lane);
      return;
    }
    if (runtime.missing() !== null) {
      log.warn('elected for a lane whose app version this replica lacks; resigning', {
        version: runtime.version,
      });
      await elector.resignTerm(lane, term);
      return;
    }
    // The pending read runs beside the claim; it is used only if no block landed in between.
    let prepared = this.prepared.get(lane);
    this.prepared.delete(lane);
    if (prepared?.term !== term) prepared = undefined;
    const { heightBefore, pending: prefetch } = prepared ?? this.readAhead(runtime);
    // A preparation's claim that failed (or lost to a newer term) is simply tried again.
    const claimedHeight = (await prepared?.claim) ?? (await this.claim(lane, term, signal));
    if (claimedHeight === null) {
      if (!signal.aborted) {
        log.warn('a newer term exists in the ledger; resigning');
        await elector.resignTerm(lane, term);
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
        code: runtime,
        runner: this.options.runner,
        store,
        follower: runtime.follower,
        waker: runtime.waker,
        limits: this.options.limits,
        logger: log,
        events,
        stillLeads: () => elector.holds(lane, term),
        claimedHeight,
        firstPending: claimedHeight === heightBefore ? await prefetch : null,
      },
      signal,
    );
    log.info('stopped leading lane', { exit });
    // 'lost': the loop could not prove its term just before a commit, but the elector may still
    // hold (and go on renewing) the lease if the renewal landed a moment later; without a loop
    // for it the lane would then be orphaned. Give it up so a new term takes it (but not a
    // newer term this replica was elected to meanwhile: its loop is already queued behind this one).
    if (exit === 'fenced' || exit === 'lost') await elector.resignTerm(lane, term);
    if (exit === 'upgraded') {
      const to = await this.options.successorFor?.(lane).catch(() => undefined);
      log.info('handing the lane to a replica that runs its new app version', { to: to ?? null });
      if (elector.holds(lane, term)) await elector.resignLanes([lane], to);
    }
  }

  /** Claims the term in the ledger; the lane's height at the claim, or null when it could not. */
  private async claim(lane: string, term: number, signal: AbortSignal): Promise<number | null> {
    for (let attempt = 0; !signal.aborted && this.options.elector.holds(lane, term); attempt++) {
      try {
        return await this.claims.get({ lane, term });
      } catch (error) {
        this.options.logger.warn('claiming the term failed, retrying', { lane, term, error });
        await sleep(backoffMs(attempt, 20, 500), signal);
      }
    }
    return null;
  }
}
