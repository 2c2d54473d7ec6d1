/**
 * One candidate of the etcd3 baseline, run as its own process: the etcd3 npm library's
 * leader-election recipe as its README shows it, `client.election(name).campaign(value)`, with the
 * library's default settings (lease TTL included) unless a TTL is given. Once elected it does its
 * "work": puts `value seq` into the heartbeat key every HEARTBEAT_MS.
 *
 *   node etcd-candidate.js ENDPOINT ELECTION VALUE HEARTBEAT_KEY [TTL_S]
 *
 * Reports on stdout, one JSON line each: {"event":"started"}, {"event":"elected","time":MS},
 * {"event":"error","message"}. Exits when its stdin closes (the benchmark is gone).
 */
import { Etcd3 } from 'etcd3';

export type CandidateEvent =
  { event: 'started' } | { event: 'elected'; time: number } | { event: 'error'; message: string };

const HEARTBEAT_MS = 10;

const [endpoint, electionName, value, heartbeatKey, ttl] = process.argv.slice(2);
if (!endpoint || !electionName || !value || !heartbeatKey) {
  console.error('usage: etcd-candidate.js ENDPOINT ELECTION VALUE HEARTBEAT_KEY [TTL_S]');
  process.exit(2);
}

const report = (e: CandidateEvent): void => void process.stdout.write(JSON.stringify(e) + '\n');

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

const client = new Etcd3({ hosts: endpoint });
const election = ttl ? client.election(electionName, Number(ttl)) : client.election(electionName);
const campaign = election.campaign(value);
report({ event: 'started' });

campaign.on('error', (error: Error) => {
  // The recipe's rule: on error a leader stops its work. Here it is a benchmark failure.
  report({ event: 'error', message: error.message });
  process.exit(1);
});

campaign.on('elected', () => {
  report({ event: 'elected', time: Date.now() });
  void (async () => {
    for (let seq = 0; ; seq++) {
      try {
        await client.put(heartbeatKey).value(`${value} ${seq}`);
      } catch (error) {
        report({ event: 'error', message: error instanceof Error ? error.message : String(error) });
        process.exit(1);
      }
      await new Promise((r) => setTimeout(r, HEARTBEAT_MS));
    }
  })();
});
