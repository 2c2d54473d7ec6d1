import { sleep } from '../time.js';
import { notCommitted } from './check-ledger.js';
import type { History } from './history.js';
import { loadLedgerFromUrl, loadReplicaLedger, type LedgerSnapshot } from './ledger.js';
import type { StreamWatch } from './streams.js';
import type { OwnedTarget } from './target.js';

/** Waits (with a deadline) until nothing is pending, every acknowledged transaction committed and every reader caught up. */
export async function settle(
  target: OwnedTarget,
  history: History,
  streams: StreamWatch,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const acked = new Map<string, string[]>();
  for (const op of history.ops)
    if (op.outcome === 'ok') acked.set(op.lane, [...(acked.get(op.lane) ?? []), op.id]);
  const deadline = Date.now() + timeoutMs;
  while (!signal.aborted && Date.now() < deadline) {
    const done = await Promise.all(
      target.lanes.map(async (lane) => {
        const ledger = await referenceLedger(target, lane, signal);
        const tip = ledger.blocks.at(-1)?.height ?? 0;
        return (
          (ledger.pending ?? 0) === 0 &&
          notCommitted(ledger, acked.get(lane) ?? []).length === 0 &&
          streams.reached(lane) >= tip
        );
      }),
    ).catch(() => [false]);
    if (done.every(Boolean)) return;
    await sleep(250, signal);
  }
}

async function referenceLedger(
  target: OwnedTarget,
  lane: string,
  signal: AbortSignal,
): Promise<LedgerSnapshot> {
  if (target.databaseUrl) return loadLedgerFromUrl(target.databaseUrl, lane);
  const view = await target.view(signal);
  const first = view.replicas.find((r) => r.ready) ?? view.replicas[0];
  if (!first) throw new Error('no replica to read the ledger from');
  return loadReplicaLedger(first, lane, [], Number.MAX_SAFE_INTEGER, signal);
}

/** The reference ledger of every lane and every live replica's view of it, at one tip (retried if it moves). */
export async function finalViews(
  target: OwnedTarget,
  accounts: string[],
  signal: AbortSignal,
): Promise<{ ledgers: LedgerSnapshot[]; replicas: LedgerSnapshot[] }> {
  for (let attempt = 0; ; attempt++) {
    const ledgers = await Promise.all(target.lanes.map((lane) => referenceLedger(target, lane, signal)));
    const view = await target.view(signal);
    const live = target.cluster
      ? target.cluster.replicas.filter((r) => r.running).map((r) => ({ id: r.options.id, url: r.url }))
      : view.replicas.map((r) => ({ id: r.id, url: r.url }));
    const replicas: LedgerSnapshot[] = [];
    for (const ledger of ledgers) {
      const tip = ledger.blocks.at(-1)?.height ?? 0;
      for (const r of live) replicas.push(await loadReplicaLedger(r, ledger.lane, accounts, tip, signal));
    }
    if (!target.databaseUrl) {
      // The reference came from a replica without balances: take them from the first replica's view.
      for (const ledger of ledgers) {
        const mine = replicas.find((r) => r.lane === ledger.lane);
        if (mine) for (const [a, b] of mine.balances) ledger.balances.set(a, b);
      }
    }
    const again = await Promise.all(target.lanes.map((lane) => referenceLedger(target, lane, signal)));
    const moved = again.some((l, i) => l.blocks.length !== ledgers[i]!.blocks.length);
    if (!moved || attempt >= 3) return { ledgers: moved ? again : ledgers, replicas };
  }
}
