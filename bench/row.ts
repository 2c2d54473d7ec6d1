import type { Summary } from './stats.js';

/** One line of the results table. */
export interface Row {
  section: string;
  metric: string;
  value: string;
  baseline: string;
  target: string;
  verdict: '' | 'meets' | 'MISSES';
}

export function row(
  section: string,
  metric: string,
  value: string,
  baseline = '',
  target = '',
  verdict: Row['verdict'] = '',
): Row {
  return { section, metric, value, baseline, target, verdict };
}

export const ms = (v: number | undefined): string =>
  v === undefined || !Number.isFinite(v) ? '—' : `${Math.round(v)} ms`;
export const ms1 = (v: number | undefined): string =>
  v === undefined || !Number.isFinite(v) ? '—' : `${v.toFixed(1)} ms`;
export const secs = (v: number): string => `${(v / 1000).toFixed(2)} s`;
export const int = (v: number): string => Math.round(v).toLocaleString('en-US');

/** "p50 / p99 / max" of a summary, in ms. */
export const p50p99max = (s: Summary | null | undefined): string =>
  `${ms(s?.p50)} / ${ms(s?.p99)} / ${ms(s?.max)}`;

/** With 100 values or fewer, the nearest-rank p99 is the maximum: say so next to the count. */
export const nOf = (s: Summary | null | undefined): string => {
  const n = s?.n ?? 0;
  return n <= 100 && n > 0 ? `n=${n}, p99 = max at this n` : `n=${n}`;
};

export const verdict = (ok: boolean | undefined): Row['verdict'] =>
  ok === undefined ? '' : ok ? 'meets' : 'MISSES';

export const skewed = (others: number | undefined): string =>
  others !== undefined && others > 0.2
    ? `; WARNING: other processes used ${others.toFixed(2)} cores meanwhile, the figure is skewed`
    : '';

/** Other users' work on the machine during the trials: the figures above are skewed when it is high. */
export function otherCpuRow(section: string, cpu: Summary | null): Row {
  return row(
    section,
    'CPU of processes outside the benchmark during a trial, mean / max (cores)',
    cpu ? `${cpu.mean.toFixed(2)} / ${cpu.max.toFixed(2)}` : '—',
    cpu && cpu.max > 0.2 ? 'WARNING: the machine was shared; failover figures are skewed' : '',
  );
}

export const failureKinds = (failures: Record<string, number>): string =>
  Object.entries(failures)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
