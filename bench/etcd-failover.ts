import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Etcd3, type ElectionObserver, type IKeyValue, type Watcher } from 'etcd3';
import { sleep } from '../src/time.js';
import type { Cleanups } from './cleanups.js';
import { OthersMeter } from './cpu.js';
import { CandidateProcess } from './etcd-candidate-process.js';
import { EtcdServer } from './etcd-server.js';
import { Progress } from './progress.js';
import { summarize, type Summary } from './stats.js';

export interface Etcd3Options {
  trials: number;
  candidates: number;
  /** Lease TTL in seconds; undefined = the library's default (what the table is about). */
  ttlS: number | undefined;
}

/** One SIGKILLed leader, times in ms after the signal. */
export interface Etcd3Trial {
  trial: number;
  victim: string;
  /** Wait between the steady check and the kill: a random point of the lease's keepalive cycle. */
  phaseMs: number;
  newLeader?: string;
  /** First heartbeat ("work") by another candidate, seen through a watch from the bench process. */
  failoverMs?: number;
  /** election.observe() in the bench process names another candidate. */
  observedMs?: number;
  /** The new leader's own "elected" report (its wall clock). */
  electedMs?: number;
  otherCpu?: number;
  timedOut: boolean;
}

export interface Etcd3Result {
  options: Etcd3Options;
  /** The lease TTL in effect, seconds, and where it came from. */
  ttlS: number;
  ttlSource: 'library default' | '--etcd-ttl';
  library: string;
  etcdVersion: string;
  etcdStartMs: number;
  trials: Etcd3Trial[];
  failover: Summary | null;
  observed: Summary | null;
  elected: Summary | null;
  timeouts: number;
  otherCpu: Summary | null;
}

const ELECTION = 'bench-leader';
const HEARTBEAT = 'bench-heartbeat';
const ms = (v: number | undefined): string => (v === undefined ? '—' : `${Math.round(v)} ms`);

/** The TTL `client.election(name)` uses when given none (a private field, read rather than assumed). */
function libraryDefaultTtl(client: Etcd3): number {
  const ttl = (client.election('probe') as unknown as { ttl?: unknown }).ttl;
  if (typeof ttl !== 'number') throw new Error('cannot read the etcd3 library default election TTL');
  return ttl;
}

/** Resolves with the first `event` whose value passes `match` (and when it came), or null after `timeoutMs`. */
function firstEvent<T>(
  emitter: EventEmitter,
  event: 'put' | 'change',
  map: (arg: unknown) => T | undefined,
  timeoutMs: number,
): Promise<{ value: T; at: number } | null> {
  return new Promise((resolve) => {
    const listener = (arg: unknown): void => {
      const value = map(arg);
      if (value === undefined) return;
      const at = performance.now();
      done();
      resolve({ value, at });
    };
    const timer = setTimeout(() => {
      done();
      resolve(null);
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      emitter.off(event, listener);
    };
    emitter.on(event, listener);
  });
}

/**
 * The etcd3 library's election recipe as the baseline of Baton's crash failover: `candidates`
 * processes campaign on a real etcd; the leader is SIGKILLed `trials` times and the time until
 * another candidate does its work is measured the way Baton's crash figure is.
 */
export async function etcd3Section(cleanups: Cleanups, options: Etcd3Options): Promise<Etcd3Result> {
  const progress = new Progress('etcd3');
  progress.update('starting etcd');
  const server = await EtcdServer.start(cleanups);
  const client = new Etcd3({ hosts: server.url });
  const closeClient = cleanups.add('etcd3 client', () => client.close());
  const failures: string[] = [];
  const candidates: CandidateProcess[] = [];
  const stopCandidates = cleanups.add('etcd3 candidates', async () => {
    await Promise.all(candidates.map((c) => c.stop()));
  });
  let watcher: Watcher | null = null;
  let observer: ElectionObserver | null = null;
  try {
    const ttlS = options.ttlS ?? libraryDefaultTtl(client);
    const timeoutMs = ttlS * 1000 + 30_000;
    let last: { value: string; at: number } | null = null;
    watcher = await client.watch().key(HEARTBEAT).create();
    watcher.on('put', (kv: IKeyValue) => (last = { value: kv.value.toString(), at: performance.now() }));
    for (let i = 1; i <= options.candidates; i++) {
      const c = new CandidateProcess({
        id: `c${i}`,
        endpoint: server.url,
        election: ELECTION,
        heartbeatKey: HEARTBEAT,
        ttlS: options.ttlS,
        onFailure: (id, reason) => failures.push(`candidate ${id}: ${reason}`),
      });
      candidates.push(c);
      c.start();
    }
    const campaigning = (): Promise<number> => client.getAll().prefix(`election/${ELECTION}/`).count();
    // Opened once every candidate has its key: etcd3 1.1.2's observer, opened on an empty
    // election, takes the last of a batch of concurrent first puts as the leader and never
    // corrects itself while that key lives.
    const campaignBy = Date.now() + 30_000;
    while ((await campaigning()) < candidates.length) {
      if (failures.length > 0) throw new Error(failures.join('; '));
      if (Date.now() > campaignBy) throw new Error('the etcd3 candidates did not all campaign within 30 s');
      await sleep(20);
    }
    observer = await client.election(ELECTION).observe();
    const obs = observer;

    /** Every candidate campaigning, a leader known to the observer and working (recent heartbeat). */
    const waitSteady = async (): Promise<CandidateProcess> => {
      const deadline = Date.now() + 30_000;
      let state = '';
      while (Date.now() < deadline) {
        if (failures.length > 0) throw new Error(failures.join('; '));
        const leader = candidates.find((c) => c.value === obs.leader());
        const beat: { value: string; at: number } | null = last;
        const keys = await campaigning();
        const fresh = beat && performance.now() - beat.at < 500 ? beat.value : 'none';
        if (
          leader &&
          candidates.every((c) => c.running) &&
          fresh.startsWith(`${leader.value} `) &&
          keys === candidates.length
        ) {
          return leader;
        }
        state =
          `observer: ${obs.leader() ?? 'no leader'}, candidates running: ` +
          `${candidates.filter((c) => c.running).length}, keys: ${keys}, fresh heartbeat: ${fresh}`;
        await sleep(20);
      }
      throw new Error(`the etcd3 candidates did not reach a steady leader within 30 s (${state})`);
    };

    const trials: Etcd3Trial[] = [];
    for (let i = 1; i <= options.trials; i++) {
      progress.update(`trial ${i}/${options.trials}: waiting for a steady leader`);
      let victim = await waitSteady();
      // The library renews the lease every TTL/3. Trials run back to back would kill each leader
      // right after a renewal (its election happens in step with the previous lease's expiry) and
      // always measure the worst case: kill at a random point of the cycle, as a real crash does.
      const phaseMs = (Math.random() * ttlS * 1000) / 3;
      progress.update(`trial ${i}/${options.trials}: ${victim.value} leads; killing it in ${ms(phaseMs)}`);
      await sleep(phaseMs);
      if (obs.leader() !== victim.value) victim = await waitSteady();
      const gone = victim.value;
      const trial: Etcd3Trial = { trial: i, victim: gone, phaseMs, timedOut: false };
      const others = new OthersMeter();
      const heartbeat = firstEvent(
        watcher,
        'put',
        (kv) => {
          const who = (kv as IKeyValue).value.toString().split(' ')[0];
          return who && who !== gone ? who : undefined;
        },
        timeoutMs,
      );
      const observed = firstEvent(
        observer,
        'change',
        (v) => (typeof v === 'string' && v !== gone ? v : undefined),
        timeoutMs,
      );
      progress.update(`trial ${i}/${options.trials}: killed ${gone}, waiting for its lease (${ttlS} s TTL)`);
      others.start();
      const t0Wall = Date.now();
      const t0 = performance.now();
      victim.kill('SIGKILL');
      const [seen, view] = await Promise.all([heartbeat, observed]);
      trial.otherCpu = others.stop();
      if (view) trial.observedMs = view.at - t0;
      if (!seen) trial.timedOut = true;
      else {
        trial.failoverMs = seen.at - t0;
        trial.newLeader = seen.value;
        const winner = candidates.find((c) => c.value === seen.value);
        // Its "elected" line travels through a pipe and may arrive after the heartbeat: wait a little.
        for (let by = Date.now() + 1_000; winner?.elected === undefined && Date.now() < by;) await sleep(5);
        if (winner?.elected !== undefined) trial.electedMs = winner.elected - t0Wall;
      }
      trials.push(trial);
      progress.update(
        `trial ${i}/${options.trials}: killed ${gone} → ${trial.newLeader ?? '?'} in ${ms(trial.failoverMs)}; restarting it`,
      );
      await victim.waitExit();
      if (cleanups.stopping) throw new Error('interrupted');
      victim.start();
    }
    const pick = (f: (t: Etcd3Trial) => number | undefined): number[] =>
      trials.map(f).filter((v): v is number => v !== undefined);
    const failover = summarize(pick((t) => t.failoverMs));
    progress.done(`${options.trials} trials, p50 ${ms(failover?.p50)}, max ${ms(failover?.max)}`);
    return {
      options,
      ttlS,
      ttlSource: options.ttlS === undefined ? 'library default' : '--etcd-ttl',
      library: `etcd3 ${(createRequire(import.meta.url)('etcd3/package.json') as { version: string }).version}`,
      etcdVersion: server.version,
      etcdStartMs: server.startMs,
      trials,
      failover,
      observed: summarize(pick((t) => t.observedMs)),
      elected: summarize(pick((t) => t.electedMs)),
      timeouts: trials.filter((t) => t.timedOut).length,
      otherCpu: summarize(pick((t) => t.otherCpu)),
    };
  } finally {
    await Promise.all(candidates.map((c) => c.stop()));
    stopCandidates();
    await observer?.cancel().catch(() => undefined);
    await watcher?.cancel().catch(() => undefined);
    client.close();
    closeClient();
    await server.stop();
  }
}
