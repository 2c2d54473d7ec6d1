interface Waiting<K, V> {
  key: K;
  resolve: (value: V) => void;
  reject: (error: unknown) => void;
}

/**
 * Coalesces calls made in the same turn of the event loop (and any made while a run is in
 * flight) into one call of `run` on all their keys: group commit for submissions, and one query
 * for many lanes taken over at once instead of one each on a pool of a few connections.
 */
export class Coalescer<K, V> {
  private queue: Array<Waiting<K, V>> = [];
  private running = false;

  /** `run` answers one value per key, in the keys' order; it gets at most `maxBatch` keys a call. */
  constructor(
    private readonly run: (keys: K[]) => Promise<V[]>,
    private readonly maxBatch = Infinity,
  ) {}

  /** Calls waiting for a run. */
  get queued(): number {
    return this.queue.length;
  }

  get(key: K): Promise<V> {
    return new Promise((resolve, reject) => {
      this.queue.push({ key, resolve, reject });
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const values = await this.run(batch.map((w) => w.key));
        batch.forEach((w, i) => w.resolve(values[i]!));
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    this.running = false;
  }
}
