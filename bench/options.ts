import { parseArgs } from 'node:util';

export const SECTIONS = [
  'graceful',
  'crash',
  'hang',
  'etcd3',
  'throughput',
  'app-throughput',
  'streams',
  'rolling',
  'handover',
  'lanes',
  'upgrade',
  'start',
  'up',
] as const;
export type Section = (typeof SECTIONS)[number];

export const USAGE = `usage: npm run bench -- [${SECTIONS.join('|')} ...] [options]
       (node dist/bench/run.js …; no section named: all of them, in the order above)

  --trials N        graceful and crash trials (default 20)
  --hang-trials N   hang trials (default: --trials, at most 20; each waits out the lease TTL, ~5 s a trial
                    with the default 3 s TTL, so 20 trials take under 2 minutes)
  --etcd-trials N   etcd3 baseline trials (default: --trials, at most 5: with the library's default lease
                    TTL of 60 s each trial waits 40-60 s for the dead leader's lease to expire)
  --etcd-ttl S      lease TTL of the etcd3 candidates, seconds (default: the library's own; set it only to
                    try the section quickly: the table then says the TTL was not the default)
  --candidates N    etcd3 candidate processes (default 3)
  --replicas LIST   replica counts of the throughput section, comma-separated (default 1,3,5)
  --duration S      throughput window in seconds, per replica count (default 10; the raw INSERT baseline
                    uses the same); also the measured load window of the streams section, after 2 s
                    of warm-up load whose blocks are timed apart, and of each lane of app-throughput
  --subscribers N   SDK block subscribers in the streams section (default 100)
  --warmup S        load before each throughput (and app-throughput) window opens (default 5)
  --lease-ttl MS    lane lease TTL of the Baton clusters (default 3000)
  --rate R          light load during failovers, the streams, the rolling restarts and the upgrades,
                    tx/s (default 200)
  --quiet-wait S    before each section, wait up to S seconds for other work on the machine to
                    settle (other processes under 0.15 cores over 1 s); 0 disables (default 20)
  --concurrency C   HTTP requests in flight in the throughput and app-throughput sections (default 96)
  --handover-trials N  operator handovers, priority changes and replica joins measured (default 10 each)
  --lanes N         lanes of the lanes section (default 1000)
  --lane-trials N   SIGKILLs of a replica in the lanes section (default 5)
  --upgrades N      lanes of the names app upgraded 1.0.0 → 2.0.0 one after another in the upgrade
                    section, every replica running both versions (default 10)
  --upgrade-handover-trials N
                    upgrades in the upgrade section whose leader lacks 2.0.0, each a planned
                    handover on a cluster of its own (default 1; 0 skips that case)
  --start-sizes LIST  state keys of the start section's lanes, each with as many blocks, comma-separated
                    (default 10000,100000,1000000); an empty lane is always measured as the baseline
  --start-runs N    starts of a replica per size in the start section (default 2)
  --write-readme    put this run's table, date and machine into README.md, between the lines
                    <!-- bench:start --> and <!-- bench:end --> (skipped when a section failed)
  --keep            keep the temporary directory (replica and PostgreSQL logs) and print its path
  --profile         run the throughput replicas under --cpu-prof and summarise where their CPU goes
                    (profiling slows them down: use it to explain figures, not to report them)`;

function positiveInt(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be an integer in 1..${max}`);
  return n;
}

function replicaCounts(value: string | undefined): number[] {
  if (value === undefined) return [1, 3, 5];
  const counts = value.split(',').map((v) => positiveInt(v.trim(), 'replicas', 0, 9));
  if (counts.length === 0) throw new Error('--replicas needs at least one count');
  return counts;
}

function startSizes(value: string | undefined): number[] {
  if (value === undefined) return [10_000, 100_000, 1_000_000];
  const sizes = value.split(',').map((v) => positiveInt(v.trim(), 'start-sizes', 0, 10_000_000));
  if (sizes.length === 0) throw new Error('--start-sizes needs at least one size');
  return sizes;
}

export type BenchOptions = ReturnType<typeof parseOptions>;

export function parseOptions(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      trials: { type: 'string' },
      'hang-trials': { type: 'string' },
      'etcd-trials': { type: 'string' },
      'etcd-ttl': { type: 'string' },
      candidates: { type: 'string' },
      replicas: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'lease-ttl': { type: 'string' },
      rate: { type: 'string' },
      'quiet-wait': { type: 'string' },
      concurrency: { type: 'string' },
      subscribers: { type: 'string' },
      'handover-trials': { type: 'string' },
      lanes: { type: 'string' },
      'lane-trials': { type: 'string' },
      upgrades: { type: 'string' },
      'upgrade-handover-trials': { type: 'string' },
      'start-sizes': { type: 'string' },
      'start-runs': { type: 'string' },
      'write-readme': { type: 'boolean' },
      keep: { type: 'boolean' },
      profile: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  for (const p of positionals) {
    if (!(SECTIONS as readonly string[]).includes(p)) throw new Error(`unknown section "${p}"\n\n${USAGE}`);
  }
  const trials = positiveInt(values.trials, 'trials', 20, 1000);
  const candidates = positiveInt(values.candidates, 'candidates', 3, 9);
  if (candidates < 2) throw new Error('--candidates must be at least 2: someone has to take over');
  return {
    sections: new Set<Section>(positionals.length > 0 ? (positionals as Section[]) : SECTIONS),
    trials,
    hangTrials: positiveInt(values['hang-trials'], 'hang-trials', Math.min(20, trials), 100),
    etcdTrials: positiveInt(values['etcd-trials'], 'etcd-trials', Math.min(5, trials), 100),
    etcdTtlS:
      values['etcd-ttl'] === undefined ? undefined : positiveInt(values['etcd-ttl'], 'etcd-ttl', 60, 3600),
    candidates,
    replicas: replicaCounts(values.replicas),
    durationS: positiveInt(values.duration, 'duration', 10, 600),
    warmupS: positiveInt(values.warmup, 'warmup', 5, 600),
    leaseTtlMs: positiveInt(values['lease-ttl'], 'lease-ttl', 3000, 60_000),
    rate: positiveInt(values.rate, 'rate', 200, 5000),
    quietWaitS: values['quiet-wait'] === '0' ? 0 : positiveInt(values['quiet-wait'], 'quiet-wait', 20, 600),
    concurrency: positiveInt(values.concurrency, 'concurrency', 96, 1024),
    subscribers: positiveInt(values.subscribers, 'subscribers', 100, 1000),
    handoverTrials: positiveInt(values['handover-trials'], 'handover-trials', 10, 100),
    lanes: positiveInt(values.lanes, 'lanes', 1000, 10_000),
    laneTrials: positiveInt(values['lane-trials'], 'lane-trials', 5, 100),
    upgrades: positiveInt(values.upgrades, 'upgrades', 10, 100),
    upgradeHandoverTrials:
      values['upgrade-handover-trials'] === '0'
        ? 0
        : positiveInt(values['upgrade-handover-trials'], 'upgrade-handover-trials', 1, 20),
    startSizes: startSizes(values['start-sizes']),
    startRuns: positiveInt(values['start-runs'], 'start-runs', 2, 10),
    writeReadme: values['write-readme'] === true,
    keep: values.keep === true,
    profile: values.profile === true,
  };
}
