/** A level-triggered wake-up: a wake while nobody waits is remembered for the next wait. */
export class Waker {
  private pending = false;
  private resolve: (() => void) | null = null;

  wake(): void {
    if (this.resolve) {
      const resolve = this.resolve;
      this.resolve = null;
      resolve();
    } else {
      this.pending = true;
    }
  }

  /** Forgets a wake nobody has waited for yet: from now on only new wakes count. */
  clear(): void {
    this.pending = false;
  }

  /** Resolves on a wake, after `timeoutMs`, or when `signal` aborts, whichever is first. */
  wait(timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        if (this.resolve === done) this.resolve = null;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal.addEventListener('abort', done, { once: true });
      this.resolve = done;
    });
  }
}
