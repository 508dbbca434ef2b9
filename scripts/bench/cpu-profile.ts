import { readFileSync } from 'node:fs';
import { basename, relative, sep } from 'node:path';

/**
 * Summaries of V8 CPU profiles (`node --cpu-prof`): self time by function and by file or package,
 * restricted to a time window. Profile timestamps are microseconds on the monotonic clock that
 * `process.hrtime` also reads, so a window taken in the bench process applies to a service's
 * profile directly.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) sampled time in the window, 0..1. */
  share: number;
}

export interface ProfileSummary {
  /** Sampled time inside the window, in ms, and the part of it the thread was idle. */
  sampledMs: number;
  idleMs: number;
  byFunction: SelfTime[];
  byFile: SelfTime[];
  /** False when the window missed the profile and the whole profile is summarised. */
  windowed: boolean;
}

const IDLE = '(idle)';

/** Now on the profiles' clock (µs). */
export const profileClockNow = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Where code lives, without this machine's paths: `pkg <name>` for node_modules, `node:<module>`
 * for Node's own, a repository-relative path for our code, V8's pseudo-entries such as
 * `(garbage collector)` as they are.
 */
export function codeLocation(frame: ProfileNode['callFrame'], repoRoot: string): string {
  const url = frame.url;
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  if (url.startsWith('node:')) return url;
  const path = url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf(`${sep}node_modules${sep}`);
  if (inModules >= 0) {
    const [scopeOrName, name] = path.slice(inModules + 14).split(sep);
    return `pkg ${scopeOrName.startsWith('@') ? `${scopeOrName}/${name}` : scopeOrName}`;
  }
  const inRepo = relative(repoRoot, path);
  return inRepo.startsWith('..') ? basename(path) : inRepo;
}

/** Each sample lasts until the next one; V8 records the delta before each sample. */
function sampleDurations(profile: CpuProfile): { nodeId: number; at: number; us: number }[] {
  const out: { nodeId: number; at: number; us: number }[] = [];
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    const us = i + 1 < profile.samples.length ? profile.timeDeltas[i + 1] : 0;
    out.push({ nodeId: profile.samples[i], at, us: Math.max(0, us) });
  }
  return out;
}

const top = (totals: Map<string, number>, busyUs: number, n: number): SelfTime[] =>
  [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, ms: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }));

/** Self time in [fromUs, toUs] (profile clock); the whole profile when the window misses it. */
export function summariseProfile(file: string, window: { fromUs: number; toUs: number }, repoRoot: string, n = 12): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const windowed = window.fromUs < profile.endTime && window.toUs > profile.startTime;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let sampledUs = 0;
  let idleUs = 0;
  for (const s of sampleDurations(profile)) {
    if (windowed && (s.at < window.fromUs || s.at > window.toUs)) continue;
    const frame = nodes.get(s.nodeId)?.callFrame;
    if (!frame) continue;
    sampledUs += s.us;
    if (frame.functionName === IDLE && !frame.url) {
      idleUs += s.us;
      continue;
    }
    const where = codeLocation(frame, repoRoot);
    const fn = frame.url ? `${frame.functionName || '(anonymous)'} (${where}:${frame.lineNumber + 1})` : frame.functionName || '(native)';
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + s.us);
    byFile.set(where, (byFile.get(where) ?? 0) + s.us);
  }
  const busyUs = sampledUs - idleUs;
  return { sampledMs: sampledUs / 1000, idleMs: idleUs / 1000, byFunction: top(byFunction, busyUs, n), byFile: top(byFile, busyUs, n), windowed };
}
