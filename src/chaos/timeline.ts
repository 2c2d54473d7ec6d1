import type { FaultEvent } from './faults.js';
import type { Op } from './history.js';
import type { LedgerSnapshot } from './ledger.js';

/** A replica's answer to "who leads this lane" at one moment (from /v1/cluster). */
export interface LeaderSample {
  at: number;
  lane: string;
  leader: string | null;
  term: number;
}

/** Consecutive blocks of one term: who produced the lane's blocks, from when to when. */
export interface TermSegment {
  term: number;
  producer: string;
  from: number;
  to: number;
  firstHeight: number;
  lastHeight: number;
  txs: number;
}

/** A change of term: the time between the old term's last block and the new term's first. */
export interface Failover {
  at: number;
  from: string;
  to: string;
  fromTerm: number;
  toTerm: number;
  gapMs: number;
  /** The fault just before it, if it fell within the fault's window. */
  fault?: number;
}

export interface LaneTimeline {
  lane: string;
  height: number;
  txs: number;
  segments: TermSegment[];
  failovers: Failover[];
  /** Runs of leader samples: who /v1/cluster named (null: nobody). */
  leaders: Array<{ from: number; to: number; leader: string | null; term: number }>;
}

export interface Timeline {
  /** End of the run, ms since its start. */
  endMs: number;
  lanes: LaneTimeline[];
  /** Per second since the start: transactions committed (all lanes) and operations answered by outcome. */
  perSecond: { committed: number[]; ok: number[]; failed: number[]; unknown: number[] };
}

/** Derives the run's timeline from the committed blocks (their producers' clocks), the leader samples and the history. */
export function buildTimeline(
  startedAtMs: number,
  endMs: number,
  ledgers: readonly LedgerSnapshot[],
  samples: readonly LeaderSample[],
  ops: readonly Op[],
  faults: readonly FaultEvent[],
): Timeline {
  const seconds = Math.max(1, Math.ceil(endMs / 1_000));
  const perSecond = {
    committed: new Array<number>(seconds).fill(0),
    ok: new Array<number>(seconds).fill(0),
    failed: new Array<number>(seconds).fill(0),
    unknown: new Array<number>(seconds).fill(0),
  };
  const bucket = (ms: number): number => Math.min(seconds - 1, Math.max(0, Math.floor(ms / 1_000)));
  const lanes: LaneTimeline[] = ledgers.map((ledger) => {
    const segments: TermSegment[] = [];
    let txs = 0;
    for (const b of ledger.blocks) {
      const at = b.time - startedAtMs;
      txs += b.txs.length;
      if (at >= 0) perSecond.committed[bucket(at)]! += b.txs.length;
      const last = segments.at(-1);
      if (last && last.term === b.term) {
        last.to = at;
        last.lastHeight = b.height;
        last.txs += b.txs.length;
      } else {
        segments.push({
          term: b.term,
          producer: b.producer,
          from: at,
          to: at,
          firstHeight: b.height,
          lastHeight: b.height,
          txs: b.txs.length,
        });
      }
    }
    const failovers: Failover[] = [];
    for (let i = 1; i < segments.length; i++) {
      const prev = segments[i - 1]!;
      const next = segments[i]!;
      const fault = [...faults]
        .reverse()
        .find(
          (f) => f.startedAt <= next.from && prev.to <= (f.recoveredAt ?? f.healedAt ?? f.startedAt) + 1_000,
        );
      failovers.push({
        at: next.from,
        from: prev.producer,
        to: next.producer,
        fromTerm: prev.term,
        toTerm: next.term,
        gapMs: next.from - prev.to,
        ...(fault ? { fault: fault.index } : {}),
      });
    }
    const leaders: LaneTimeline['leaders'] = [];
    for (const s of samples.filter((x) => x.lane === ledger.lane)) {
      const last = leaders.at(-1);
      if (last && last.leader === s.leader && last.term === s.term) last.to = s.at;
      else {
        if (last) last.to = s.at;
        leaders.push({ from: s.at, to: s.at, leader: s.leader, term: s.term });
      }
    }
    return {
      lane: ledger.lane,
      height: ledger.blocks.at(-1)?.height ?? 0,
      txs,
      segments,
      failovers,
      leaders,
    };
  });
  for (const op of ops) {
    // Forged operations fail on purpose: only unexpected failures count as failed here.
    if (op.completedAt >= 0 && !(op.kind === 'forged' && op.outcome === 'failed')) {
      perSecond[op.outcome][bucket(op.completedAt)]!++;
    }
  }
  return { endMs, lanes, perSecond };
}
