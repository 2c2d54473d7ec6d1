import { spawn } from 'node:child_process';
import type { AdminStatus } from '../../src/api/context.js';
import { CLI_ENTRY, type TestCluster } from './cluster.js';
import { waitUntil } from './wait.js';

/** The admin status from the first replica that answers. */
export async function adminStatus(cluster: TestCluster): Promise<AdminStatus> {
  for (const r of cluster.local.replicas.filter((x) => x.running)) {
    try {
      const res = await fetch(`${r.url}/v1/admin/status`, {
        headers: { authorization: `Bearer ${cluster.local.adminToken}` },
        signal: AbortSignal.timeout(2_000),
      });
      if (res.ok) return (await res.json()) as AdminStatus;
    } catch {
      // next replica
    }
  }
  throw new Error('no replica answered /v1/admin/status');
}

/**
 * Waits until the lanes led per replica are exactly `expected` (every lane led), and have stayed
 * so, with the same leaders and terms, for `settledMs`: a balanced snapshot alone can be the middle
 * of a rebalance (the balancer runs every 500 ms and moves a lane held for 1 s or more).
 */
export async function waitForCounts(
  cluster: TestCluster,
  expected: Record<string, number>,
  timeoutMs = 20_000,
  settledMs = 1_500,
): Promise<AdminStatus> {
  let last = '';
  let stable: { key: string; since: number } | undefined;
  return waitUntil(
    async () => {
      const status = await adminStatus(cluster);
      const counts: Record<string, number> = {};
      for (const lane of status.lanes) if (lane.leader) counts[lane.leader] = (counts[lane.leader] ?? 0) + 1;
      last = JSON.stringify(counts);
      const want = Object.entries(expected).filter(([, n]) => n > 0);
      const ok =
        status.lanes.every((l) => l.leader !== null) &&
        want.length === Object.keys(counts).length &&
        want.every(([id, n]) => counts[id] === n);
      if (!ok) {
        stable = undefined;
        return undefined;
      }
      const key = JSON.stringify(status.lanes.map((l) => [l.lane, l.leader, l.term]));
      if (stable?.key !== key) stable = { key, since: Date.now() };
      return Date.now() - stable.since >= settledMs ? status : undefined;
    },
    {
      timeoutMs,
      message: () => `leadership ${JSON.stringify(expected)}, settled ${settledMs} ms (last seen ${last})`,
    },
  );
}

/** Runs the built CLI to completion; resolves with its exit code and output. */
export function runCliOnce(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_ENTRY, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}
