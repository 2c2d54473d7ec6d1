import type { HandoverResult, PlannedGaps } from './handover.js';
import type { LanesResult } from './lanes.js';
import { int, ms, row, secs, verdict, type Row } from './row.js';

/** Rows of the placement sections: many lanes over few replicas, and planned moves under load. */
export function lanesRows(r: LanesResult): Row[] {
  const s = `lanes (${int(r.lanes)} lanes, ${r.replicas} replicas)`;
  const perRenew = (q: number): string => (q * (r.leaseTtlMs / 4 / 1000)).toFixed(2);
  const rates = (x: LanesResult['rates']): string =>
    x.perReplica
      .map(
        (p) => `${p.id} (${p.leads} led): renew ${p.renew.toFixed(2)}/s, acquire ${p.acquire.toFixed(1)}/s`,
      )
      .join('; ');
  const maxRenew = Math.max(...r.rates.perReplica.map((p) => p.renew));
  const baseRenew = Math.max(...r.baselineRates.perReplica.map((p) => p.renew));
  const maxAcquire = Math.max(...r.rates.perReplica.map((p) => p.acquire));
  const baseAcquire = Math.max(...r.baselineRates.perReplica.map((p) => p.acquire));
  const all = r.takeoverAllLanes;
  const lane = r.takeoverPerLane;
  return [
    row(s, 'replicas ready after spawn', secs(r.readyMs)),
    row(s, 'every lane has a leader, after spawn', secs(r.electedMs)),
    row(s, 'leadership spread evenly (⌊L/n⌋..⌈L/n⌉ each), after spawn', secs(r.spreadMs)),
    row(s, 'lease queries per replica, per second', rates(r.rates), `1 lane: ${rates(r.baselineRates)}`),
    row(
      s,
      'lease renew queries per renew period, busiest replica',
      perRenew(maxRenew),
      `1 lane: ${perRenew(baseRenew)}`,
      'O(1): same as with 1 lane',
      verdict(maxRenew <= baseRenew * 1.5 + 0.1 && maxAcquire <= baseAcquire * 1.5 + 1),
    ),
    row(
      s,
      `SIGKILL of a replica: every one of its lanes has a new leader, p50 / p99 / max over ${all?.n ?? 0} trials`,
      all ? `${ms(all.p50)} / ${ms(all.p99)} / ${ms(all.max)}` : '—',
      '',
      '≤ 1 s at p99',
      verdict(all ? all.p99 <= 1000 : undefined),
    ),
    row(
      s,
      `the same per lane (${lane?.n ?? 0} lanes), p50 / p99 / max`,
      lane ? `${ms(lane.p50)} / ${ms(lane.p99)} / ${ms(lane.max)}` : '—',
    ),
  ];
}

export function handoverRows(r: HandoverResult): Row[] {
  const s = `planned moves (${r.lanes.length} lanes × ${r.ratePerLane} tx/s, 3 replicas)`;
  const o = r.ordinaryIntervals;
  const op = r.ordinaryPendingIntervals;
  const ordinary =
    o && op
      ? `ordinary interval between blocks of one term (same lanes, same run), while a tx waited: p50 ${ms(op.p50)} / p99 ${ms(op.p99)} / max ${ms(op.max)}; raw: p50 ${ms(o.p50)} / p99 ${ms(o.p99)} / max ${ms(o.max)}`
      : '';
  const gapRow = (what: string, g: PlannedGaps): Row =>
    row(
      s,
      `${what}: block production gap of each lane moved (last old-term block → first new-term block, block \`time\` fields, from the arrival of the new block's oldest tx if later: before it there was nothing to produce), p50 / p99 / max (${g.moves} moves)`,
      g.gaps && g.rawGaps
        ? `${ms(g.gaps.p50)} / ${ms(g.gaps.p99)} / ${ms(g.gaps.max)} (raw block-time gap ${ms(g.rawGaps.p50)} / ${ms(g.rawGaps.p99)} / ${ms(g.rawGaps.max)})`
        : '—',
      ordinary,
      '< 100 ms at p99',
      verdict(g.gaps ? g.gaps.p99 < 100 : undefined),
    );
  const w = r.warmup.gaps;
  return [
    row(
      s,
      'warm-up operator handover before the trials, not counted in them: production gap (raw gap)',
      w && r.warmup.rawGaps ? `${ms(w.max)} (${ms(r.warmup.rawGaps.max)}), ${r.warmup.moves} move(s)` : '—',
    ),
    gapRow(`operator handover ×${r.trials}`, r.handover),
    gapRow(`priority change ×${r.trials}`, r.priority),
    gapRow(`replica join ×${r.trials}`, r.join),
    row(
      s,
      'client submissions failed during the moves',
      `${r.load.failed} of ${int(r.load.submitted)}`,
      '',
      '0',
      verdict(r.load.failed === 0),
    ),
  ];
}
