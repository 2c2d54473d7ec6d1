import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  /** Share of the non-idle time. */
  pct: number;
}

export interface ProfileSummary {
  file: string;
  pid: number;
  busyMs: number;
  top: ProfileEntry[];
  categories: ProfileEntry[];
}

/** Where a frame's code lives: Baton's own file, an npm package, a Node.js module, or the VM. */
function category(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)';
  const src = /\/dist\/src\/(.+)$/.exec(url);
  if (src) return `baton ${src[1]}`;
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm ${pkg[1]}`;
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  return url;
}

function shortUrl(url: string): string {
  return url.replace(/^.*\/dist\/src\//, '').replace(/^.*\/node_modules\//, '');
}

function rank(map: Map<string, number>, busy: number, n: number): ProfileEntry[] {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, ms: us / 1000, pct: (100 * us) / busy }));
}

/** Self time per function and per code category of one V8 .cpuprofile (idle excluded). */
export async function summarizeProfile(file: string, topN = 12): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const functions = new Map<string, number>();
  const categories = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)') continue;
    busy += us;
    const name = frame.url
      ? `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
      : frame.functionName;
    functions.set(name, (functions.get(name) ?? 0) + us);
    const cat = category(frame.url, frame.functionName);
    categories.set(cat, (categories.get(cat) ?? 0) + us);
  }
  const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(file)?.[1] ?? 0);
  return {
    file,
    pid,
    busyMs: busy / 1000,
    top: rank(functions, busy, topN),
    categories: rank(categories, busy, topN),
  };
}

export async function summarizeProfiles(dir: string): Promise<ProfileSummary[]> {
  const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile'));
  return Promise.all(files.map((f) => summarizeProfile(join(dir, f))));
}
