import { note } from './progress.js';

interface Cleanup {
  name: string;
  run: () => Promise<void> | void;
}

const STEP_TIMEOUT_MS = 15_000;

/**
 * Everything the benchmark started, with a way to end it at once. Sections register what they
 * start and unregister it after a clean stop; whatever is left runs on failure or Ctrl-C.
 */
export class Cleanups {
  private readonly items: Cleanup[] = [];
  private running: Promise<void> | null = null;
  private stopped = false;

  /** True once runAll() has begun (Ctrl-C, or the end of the run): start nothing new. */
  get stopping(): boolean {
    return this.stopped;
  }

  /** Registers `run`; the returned function unregisters it (after a clean stop). */
  add(name: string, run: () => Promise<void> | void): () => void {
    const item: Cleanup = { name, run };
    this.items.push(item);
    return () => {
      const i = this.items.indexOf(item);
      if (i >= 0) this.items.splice(i, 1);
    };
  }

  /** Runs every registered cleanup, newest first, each bounded in time; errors are reported, not thrown. */
  runAll(): Promise<void> {
    this.stopped = true;
    this.running ??= (async () => {
      while (this.items.length > 0) {
        const item = this.items.pop()!;
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(item.run),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error('timed out')), STEP_TIMEOUT_MS);
            }),
          ]);
        } catch (error) {
          note(`cleanup of ${item.name} failed: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          clearTimeout(timer);
        }
      }
    })().finally(() => (this.running = null));
    return this.running;
  }
}

/** Ctrl-C / SIGTERM: kill everything started, then exit 130. A second signal exits at once. */
export function installSignalHandlers(cleanups: Cleanups): () => void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      note(`${signal} again: exiting now`);
      process.exit(130);
    }
    process.stderr.write(`\n${signal}: killing every process the benchmark started…\n`);
    void cleanups.runAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
