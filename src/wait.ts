import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What was awaited; a function is called at the deadline, so it can show the state then. */
  message?: string | (() => string);
}

/** Polls `check` until it returns a value other than undefined/false, or fails after the deadline. */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      const what = typeof options.message === 'function' ? options.message() : options.message;
      throw new Error(`timed out waiting: ${what ?? 'condition'}${why}`);
    }
    await delay(options.intervalMs ?? 20);
  }
}
