import { setTimeout as delay } from 'node:timers/promises';

/** Monotonic milliseconds, immune to wall-clock jumps. */
export function monotonicMs(): number {
  return performance.now();
}

/** Sleeps for `ms`, resolving early (without throwing) when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  try {
    await delay(ms, undefined, { signal });
  } catch {
    // aborted: the caller checks its signal
  }
}

/** Exponential back-off with full jitter, capped. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}
