/** Summaries of V8 CPU profiles (`node --cpu-prof`, or the inspector's Profiler). */
import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  if (url === '') return '';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm !== -1) return path.slice(nm + 'node_modules/'.length).split('/')[0]!;
  const repo = /\/(shared|functions|scripts|bench|test)\/(.*)$/.exec(path);
  if (repo) return `${repo[1]}/${repo[2]}`;
  return path.startsWith('node:') ? path : path.split('/').slice(-2).join('/');
}

/** Self and inclusive share of samples per function (name + file), top `limit` by self time. */
export function summarizeProfile(profile: CpuProfile, limit = 15): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}${n.callFrame.url ? ` [${where(n.callFrame.url)}]` : ''}`;
  for (const sample of profile.samples) {
    let id: number | undefined = sample;
    const seen = new Set<string>();
    let first = true;
    while (id !== undefined) {
      const node = byId.get(id)!;
      const k = key(node);
      if (first) self.set(k, (self.get(k) ?? 0) + 1);
      first = false;
      if (!seen.has(k)) {
        seen.add(k);
        inclusive.set(k, (inclusive.get(k) ?? 0) + 1);
      }
      id = parent.get(id);
    }
  }
  const total = profile.samples.length;
  const pct = (n: number) => `${((n / total) * 100).toFixed(1).padStart(5)}%`;
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([k, n]) => `${pct(n)} self ${pct(inclusive.get(k) ?? 0)} incl  ${k}`);
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

/** Profiles `work` in this process with the inspector (sampling every 100 µs). */
export async function profileInProcess(work: () => Promise<void>): Promise<CpuProfile> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    await work();
    const { profile } = await session.post('Profiler.stop');
    return profile as unknown as CpuProfile;
  } finally {
    session.disconnect();
  }
}
