import type { FaultEvent } from './faults.js';
import type { Timeline } from './timeline.js';

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7'];
/** At least this wide; long runs get 8 px per second, up to MAX_WIDTH, so faults stay apart. */
const MIN_WIDTH = 1200;
const MAX_WIDTH = 4_000;
const LEFT = 110;
const RIGHT = 20;

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(totalS: number): number {
  for (const step of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600]) if (totalS / step <= 12) return step;
  return 1_200;
}

export interface SvgInput {
  title: string;
  timeline: Timeline;
  faults: ReadonlyArray<Omit<FaultEvent, 'plan'>>;
  replicas: readonly string[];
}

/**
 * The run as a picture: which replica produced each lane's blocks (by term) and whom
 * /v1/cluster named leader, when faults hit and healed, failover gaps, and throughput.
 */
export function timelineSvg({ title, timeline, faults, replicas }: SvgInput): string {
  const endMs = Math.max(1_000, timeline.endMs);
  const width = Math.round(Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, LEFT + RIGHT + (endMs / 1_000) * 8)));
  const plot = width - LEFT - RIGHT;
  const x = (ms: number): number => LEFT + (Math.max(0, Math.min(endMs, ms)) / endMs) * plot;
  const color = (id: string | null): string => {
    if (id === null) return '#dddddd';
    const i = replicas.indexOf(id);
    return PALETTE[(i >= 0 ? i : replicas.length) % PALETTE.length]!;
  };
  const out: string[] = [];
  let y = 30;
  out.push(`<text x="${LEFT}" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`);

  // Fault row: numbered markers; the shaded windows are drawn over the whole chart below.
  const top = y + 10;
  y += 30;
  out.push(`<text x="8" y="${y - 4}" font-size="12">faults</text>`);
  for (const f of faults) {
    const cx = x(f.startedAt);
    out.push(
      `<g><title>${esc(`#${f.index} ${f.kind} ${f.outcome}: ${f.detail}${f.note ? ` (${f.note})` : ''}`)}</title>` +
        `<circle cx="${cx.toFixed(1)}" cy="${y - 8}" r="7" fill="${f.outcome === 'fired' ? '#c0392b' : '#999'}"/>` +
        `<text x="${cx.toFixed(1)}" y="${y - 4}" font-size="9" fill="white" text-anchor="middle">${f.index}</text></g>`,
    );
  }
  y += 10;

  for (const lane of timeline.lanes) {
    out.push(`<text x="8" y="${y + 15}" font-size="12" font-weight="bold">${esc(lane.lane)}</text>`);
    out.push(`<text x="8" y="${y + 29}" font-size="10" fill="#555">blocks by term</text>`);
    for (const s of lane.segments) {
      const x0 = x(s.from);
      const w = Math.max(1.5, x(s.to) - x0);
      out.push(
        `<g><title>${esc(`term ${s.term} by ${s.producer}: heights ${s.firstHeight}-${s.lastHeight}, ${s.txs} txs`)}</title>` +
          `<rect x="${x0.toFixed(1)}" y="${y + 4}" width="${w.toFixed(1)}" height="26" fill="${color(s.producer)}"/>` +
          (w > 34
            ? `<text x="${(x0 + 3).toFixed(1)}" y="${y + 21}" font-size="10" fill="white">${esc(`${s.producer} t${s.term}`)}</text>`
            : '') +
          '</g>',
      );
    }
    for (const f of lane.failovers) {
      const x0 = x(f.at - f.gapMs);
      const w = Math.max(1, x(f.at) - x0);
      out.push(
        `<g><title>${esc(`failover ${f.from} t${f.fromTerm} → ${f.to} t${f.toTerm}: ${f.gapMs} ms without blocks`)}</title>` +
          `<rect x="${x0.toFixed(1)}" y="${y + 31}" width="${w.toFixed(1)}" height="4" fill="#c0392b"/>` +
          (f.gapMs >= 150
            ? `<text x="${(x0 + w / 2).toFixed(1)}" y="${y + 45}" font-size="9" fill="#c0392b" text-anchor="middle">${f.gapMs} ms</text>`
            : '') +
          '</g>',
      );
    }
    y += 50;
    out.push(`<text x="8" y="${y + 10}" font-size="10" fill="#555">leader (/v1/cluster)</text>`);
    for (const l of lane.leaders) {
      const x0 = x(l.from);
      const w = Math.max(1, x(l.to) - x0);
      out.push(
        `<rect x="${x0.toFixed(1)}" y="${y + 2}" width="${w.toFixed(1)}" height="10" fill="${color(l.leader)}"><title>${esc(`${l.leader ?? 'no leader'} (term ${l.term})`)}</title></rect>`,
      );
    }
    y += 26;
  }

  // Throughput: committed transactions per second (area) and answered operations per second.
  const chartTop = y + 10;
  const chartHeight = 110;
  const { committed, ok, failed, unknown } = timeline.perSecond;
  const peak = Math.max(1, ...committed, ...ok);
  const yv = (v: number): number => chartTop + chartHeight - (v / peak) * chartHeight;
  const line = (values: number[]): string =>
    values.map((v, i) => `${x(i * 1_000 + 500).toFixed(1)},${yv(v).toFixed(1)}`).join(' ');
  out.push(`<text x="8" y="${chartTop + 12}" font-size="12">per second</text>`);
  out.push(`<text x="8" y="${chartTop + 26}" font-size="10" fill="#555">peak ${peak}</text>`);
  out.push(
    `<line x1="${LEFT}" y1="${chartTop + chartHeight}" x2="${width - RIGHT}" y2="${chartTop + chartHeight}" stroke="#999"/>`,
  );
  if (committed.length > 0) {
    out.push(
      `<polygon points="${x(500).toFixed(1)},${yv(0)} ${line(committed)} ${x((committed.length - 1) * 1_000 + 500).toFixed(1)},${yv(0)}" fill="#4e79a7" fill-opacity="0.25" stroke="#4e79a7"/>`,
    );
    out.push(`<polyline points="${line(ok)}" fill="none" stroke="#59a14f" stroke-width="1.5"/>`);
  }
  failed.forEach((v, i) => {
    const bad = v + (unknown[i] ?? 0);
    if (bad > 0) {
      out.push(
        `<rect x="${x(i * 1_000).toFixed(1)}" y="${(yv(bad) - 0).toFixed(1)}" width="${(x(1_000) - x(0)).toFixed(1)}" height="${(chartTop + chartHeight - yv(bad)).toFixed(1)}" fill="#c0392b" fill-opacity="0.6"><title>${v} failed, ${unknown[i]} unknown</title></rect>`,
      );
    }
  });
  y = chartTop + chartHeight;

  // Time axis.
  const stepS = niceStep(endMs / 1_000);
  for (let s = 0; s * 1_000 <= endMs; s += stepS) {
    out.push(
      `<line x1="${x(s * 1_000).toFixed(1)}" y1="${top}" x2="${x(s * 1_000).toFixed(1)}" y2="${y + 4}" stroke="#000" stroke-opacity="0.08"/>`,
    );
    out.push(
      `<text x="${x(s * 1_000).toFixed(1)}" y="${y + 16}" font-size="10" text-anchor="middle">${s} s</text>`,
    );
  }
  y += 30;

  // Fault windows across the chart, then the legends.
  const windows = faults
    .filter((f) => f.outcome === 'fired')
    .map((f) => {
      const heal = f.healedAt ?? f.startedAt;
      const rec = f.recoveredAt ?? heal;
      return (
        `<rect x="${x(f.startedAt).toFixed(1)}" y="${top}" width="${Math.max(1, x(heal) - x(f.startedAt)).toFixed(1)}" height="${y - top - 30}" fill="#c0392b" fill-opacity="0.08"/>` +
        `<rect x="${x(heal).toFixed(1)}" y="${top}" width="${Math.max(0, x(rec) - x(heal)).toFixed(1)}" height="${y - top - 30}" fill="#f1c40f" fill-opacity="0.10"/>`
      );
    });
  const legend: string[] = [];
  replicas.forEach((id, i) => {
    legend.push(
      `<rect x="${LEFT + i * 70}" y="${y - 9}" width="12" height="10" fill="${color(id)}"/><text x="${LEFT + i * 70 + 16}" y="${y}" font-size="11">${esc(id)}</text>`,
    );
  });
  const after = LEFT + replicas.length * 70 + 10;
  legend.push(
    `<rect x="${after}" y="${y - 9}" width="12" height="10" fill="#c0392b" fill-opacity="0.3"/><text x="${after + 16}" y="${y}" font-size="11">fault active</text>` +
      `<rect x="${after + 100}" y="${y - 9}" width="12" height="10" fill="#f1c40f" fill-opacity="0.4"/><text x="${after + 116}" y="${y}" font-size="11">recovering</text>` +
      `<rect x="${after + 210}" y="${y - 9}" width="12" height="4" fill="#c0392b"/><text x="${after + 226}" y="${y}" font-size="11">failover gap</text>` +
      `<rect x="${after + 320}" y="${y - 9}" width="12" height="10" fill="#4e79a7" fill-opacity="0.4"/><text x="${after + 336}" y="${y}" font-size="11">tx committed/s</text>` +
      `<line x1="${after + 450}" y1="${y - 4}" x2="${after + 462}" y2="${y - 4}" stroke="#59a14f" stroke-width="2"/><text x="${after + 466}" y="${y}" font-size="11">ops ok/s</text>`,
  );
  y += 16;
  for (const f of faults) {
    y += 14;
    const rec =
      f.recoveredAt !== undefined && f.healedAt !== undefined
        ? `, recovered ${f.recoveredAt - f.healedAt} ms after healing`
        : '';
    legend.push(
      `<text x="${LEFT}" y="${y}" font-size="11"><tspan font-weight="bold">#${f.index}</tspan> ${(f.startedAt / 1_000).toFixed(1)} s ${esc(f.kind)}${f.outcome === 'fired' ? '' : ` (${f.outcome})`}: ${esc(f.detail)}${esc(rec)}</text>`,
    );
  }
  const height = y + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...windows,
    ...out,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
