import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { WatchdogEvents } from '../../src/cluster/watchdog.js';
import { isReady } from '../../src/cluster/local.js';
import { TestCluster } from '../helpers/cluster.js';
import { TestPostgres } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';

let server: TestPostgres;
let cluster: TestCluster;
const seen: Array<{ kind: keyof WatchdogEvents; at: number; event: WatchdogEvents[keyof WatchdogEvents] }> =
  [];

before(async () => {
  server = await TestPostgres.start();
  cluster = await TestCluster.start({
    databaseUrl: await server.database(),
    watchdog: {
      backoffBaseMs: 200,
      backoffCapMs: 800,
      crashLoopRestarts: 4,
      crashLoopWindowMs: 60_000,
      stableAfterMs: 60_000,
      livenessIntervalMs: 200,
      livenessTimeoutMs: 500,
      livenessFailures: 3,
    },
  });
  const watchdog = cluster.local.watchdog!;
  for (const kind of ['restart', 'unhealthy', 'gave-up'] as const) {
    watchdog.events.on(kind, (event) => seen.push({ kind, at: Date.now(), event }));
  }
});

after(async () => {
  await cluster?.stop();
  await server?.stop();
});

const eventsFor = (id: string, kind: keyof WatchdogEvents) =>
  seen.filter((s) => s.kind === kind && (s.event as { id: string }).id === id);

test('a replica that is killed is restarted and becomes ready again', async () => {
  const r2 = cluster.local.replica('r2');
  const pid = r2.pid;
  r2.signal('SIGKILL');
  await waitUntil(() => r2.running && r2.pid !== pid, { message: 'r2 restarted' });
  const [restart] = eventsFor('r2', 'restart');
  assert.deepEqual(restart?.event, { id: 'r2', cause: 'exited on SIGKILL', attempt: 1, delayMs: 200 });
  await waitUntil(() => isReady(r2.url), { message: 'r2 ready again' });
});

test('a replica that stops answering its liveness check is killed and restarted', async () => {
  const r3 = cluster.local.replica('r3');
  const pid = r3.pid;
  r3.signal('SIGSTOP');
  await waitUntil(() => r3.running && r3.pid !== pid, { message: 'r3 killed and restarted' });
  const [unhealthy] = eventsFor('r3', 'unhealthy');
  assert.match(
    (unhealthy?.event as { cause: string }).cause,
    /failed 3 liveness checks \(no answer within 500 ms\)/,
  );
  const [restart] = eventsFor('r3', 'restart');
  assert.match((restart?.event as { cause: string }).cause, /liveness/);
  await waitUntil(() => isReady(r3.url), { message: 'r3 ready again' });
});

test('a crash-looping replica is restarted with growing back-off, then given up on', async () => {
  const r1 = cluster.local.replica('r1');
  // From now on r1 cannot start: every restart exits at once with a usage error.
  r1.options.extraArgs = [...(r1.options.extraArgs ?? []), '--mode', 'no-such-mode'];
  r1.signal('SIGKILL');
  await waitUntil(() => eventsFor('r1', 'gave-up').length === 1, {
    timeoutMs: 30_000,
    message: 'the watchdog giving up on r1',
  });
  const restarts = eventsFor('r1', 'restart').map((s) => s.event as WatchdogEvents['restart']);
  assert.deepEqual(
    restarts.map((r) => r.delayMs),
    [200, 400, 800, 800],
  );
  assert.deepEqual(
    restarts.map((r) => r.attempt),
    [1, 2, 3, 4],
  );
  assert.match(restarts[1]!.cause, /exited with code 2/);
  // Never a tight loop: each restart came at least its back-off after the previous one.
  const times = eventsFor('r1', 'restart').map((s) => s.at);
  for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= restarts[i - 1]!.delayMs - 5);
  assert.equal(cluster.local.watchdog!.gaveUp('r1'), true);
  assert.equal(r1.running, false);
});
