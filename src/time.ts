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

/** True if `promise` settles within `ms`; the timer is cleared either way so it never holds the process open. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RetryOptions {
  baseMs: number;
  capMs: number;
  signal: AbortSignal;
  /** Called with each failure before the back-off (to log it). */
  onError?: (error: unknown, attempt: number) => void;
}

/** Runs `task` until it resolves, backing off between failures; undefined once `signal` aborts. */
export async function retrying<T>(task: () => Promise<T>, options: RetryOptions): Promise<T | undefined> {
  for (let attempt = 0; !options.signal.aborted; attempt++) {
    try {
      return await task();
    } catch (error) {
      if (options.signal.aborted) break;
      options.onError?.(error, attempt);
      await sleep(backoffMs(attempt, options.baseMs, options.capMs), options.signal);
    }
  }
  return undefined;
}
