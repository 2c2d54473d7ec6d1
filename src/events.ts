import { EventEmitter, once } from 'node:events';

/** A typed EventEmitter: `TypedEvents<{ 'lane:elected': { lane: string } }>`. */
export class TypedEvents<Events extends Record<string, unknown>> {
  private readonly emitter = new EventEmitter({ captureRejections: false });

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  on<K extends keyof Events & string>(event: K, listener: (payload: Events[K]) => void): () => void {
    this.emitter.on(event, listener);
    return () => this.emitter.off(event, listener);
  }

  emit<K extends keyof Events & string>(event: K, payload: Events[K]): void {
    this.emitter.emit(event, payload);
  }

  /** Resolves with the first payload of `event` that satisfies `match`; rejects when `signal` aborts. */
  async waitFor<K extends keyof Events & string>(
    event: K,
    match: (payload: Events[K]) => boolean = () => true,
    signal?: AbortSignal,
  ): Promise<Events[K]> {
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const [payload] = (await once(this.emitter, event, { signal: ac.signal })) as [Events[K]];
        if (match(payload)) return payload;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
