import type { ElectorQueryCounts } from '../coordination/elector.js';
import type { VerificationCounts } from '../ledger/verifier.js';

export interface ReplicaMetrics {
  replica: string;
  ready: boolean;
  live: boolean;
  lanesServed: number;
  lanesLed: number;
  streamSubscribers: number;
  blocksCommitted: number;
  txsCommitted: number;
  electorQueries: ElectorQueryCounts;
  /** Null unless the replica verifies blocks (--verify-blocks). */
  verification: VerificationCounts | null;
  /** Each lane's state in memory: keys held, and whether that is every key of the lane. */
  laneState: Array<{ lane: string; keys: number; whole: boolean }>;
}

/** Prometheus text exposition (version 0.0.4) of one replica's metrics. */
export function metricsText(m: ReplicaMetrics): string {
  const label = `replica="${m.replica}"`;
  const lines: string[] = [];
  const metric = (
    name: string,
    type: 'gauge' | 'counter',
    help: string,
    values: Array<[string, number]>,
  ): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of values) lines.push(`${name}{${label}${labels}} ${value}`);
  };
  metric('baton_ready', 'gauge', 'Whether the replica reports ready (1) or not (0).', [
    ['', m.ready ? 1 : 0],
  ]);
  metric('baton_live', 'gauge', 'Whether the replica reports live (1) or unhealthy (0).', [
    ['', m.live ? 1 : 0],
  ]);
  metric('baton_lanes_served', 'gauge', 'Lanes this replica serves.', [['', m.lanesServed]]);
  metric('baton_lanes_led', 'gauge', 'Lanes this replica leads.', [['', m.lanesLed]]);
  metric('baton_stream_subscribers', 'gauge', 'Open stream subscriptions.', [['', m.streamSubscribers]]);
  metric('baton_blocks_committed_total', 'counter', 'Blocks this replica committed as leader.', [
    ['', m.blocksCommitted],
  ]);
  metric('baton_txs_committed_total', 'counter', 'Transactions in blocks this replica committed.', [
    ['', m.txsCommitted],
  ]);
  metric(
    'baton_elector_queries_total',
    'counter',
    'Coordination queries sent by the elector, by kind.',
    (['acquire', 'renew', 'resign'] as const).map((kind): [string, number] => [
      `,kind="${kind}"`,
      m.electorQueries[kind],
    ]),
  );
  metric(
    'baton_lane_state_keys',
    'gauge',
    'State keys of a lane held in memory (--state-cache-keys bounds them).',
    m.laneState.map((l): [string, number] => [`,lane="${l.lane}"`, l.keys]),
  );
  metric(
    'baton_lane_state_whole',
    'gauge',
    'Whether the memory holds every key of the lane (1) or reads the others through (0).',
    m.laneState.map((l): [string, number] => [`,lane="${l.lane}"`, l.whole ? 1 : 0]),
  );
  if (m.verification) {
    const v = m.verification;
    metric(
      'baton_blocks_verified_total',
      'counter',
      'Blocks re-executed by --verify-blocks, by outcome (mismatch: the app is not deterministic).',
      [
        [',outcome="match"', v.verified],
        [',outcome="mismatch"', v.mismatches],
        [',outcome="skipped"', v.skipped],
      ],
    );
  }
  return lines.join('\n') + '\n';
}
