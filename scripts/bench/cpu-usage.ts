import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * CPU used by each process of the system under test, from Linux /proc (utime + stime deltas), so a
 * report can say who uses how much of the machine's cores. Linux only.
 */

export interface CpuTarget {
  label: string;
  /** Evaluated at every sample: process sets such as Postgres backends change over time. */
  pids: () => number[];
}

export interface CpuShare {
  label: string;
  /** CPU seconds per second of wall time: 1.0 is one core fully busy. */
  cores: number;
}

export interface CpuUsage {
  seconds: number;
  shares: CpuShare[];
  /** Busy time of the whole machine, in cores (all processes, including the ones not listed). */
  machineCores: number;
}

const TICKS_PER_SEC = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

const readOrEmpty = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return ''; // the process is gone
  }
};

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces): [0] is the state. */
const statFields = (pid: number) => {
  const stat = readOrEmpty(`/proc/${pid}/stat`);
  return stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ') : undefined;
};

/** utime + stime of a process, in clock ticks. */
const processTicks = (pid: number) => {
  const f = statFields(pid);
  return f ? Number(f[11]) + Number(f[12]) : undefined;
};

/** Busy ticks of the whole machine (everything but idle and iowait). */
const machineBusyTicks = () => {
  const [, ...ticks] = readOrEmpty('/proc/stat').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks;
  return user + nice + system + irq + softirq + (steal ?? 0);
};

const allPids = () =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);

/** Direct children of a process (e.g. the backends of a Postgres postmaster). */
export const childrenOf = (pid: number) => allPids().filter((p) => Number(statFields(p)?.[1]) === pid);

/** The process listening on a local TCP port (via the socket's inode), or undefined. */
export function listeningPid(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readOrEmpty(table).split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const localPort = parseInt(cols[1]?.split(':')[1] ?? '', 16);
      if (localPort === port && cols[3] === '0A') inodes.add(cols[9]); // 0A: LISTEN
    }
  }
  for (const pid of allPids()) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) return pid;
      } catch {
        // the descriptor closed meanwhile
      }
    }
  }
  return undefined;
}

/** Samples every `intervalMs` between start() and stop(); ticks of processes that come and go are counted while seen. */
export class CpuSampler {
  private readonly lastTicks = new Map<number, number>();
  private readonly used = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private machineAtStart = 0;

  constructor(private readonly targets: CpuTarget[]) {}

  start(intervalMs = 1000): void {
    this.startedAt = performance.now();
    this.machineAtStart = machineBusyTicks();
    this.sample();
    this.used.clear();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): CpuUsage {
    clearInterval(this.timer);
    this.sample();
    const seconds = (performance.now() - this.startedAt) / 1000;
    const cores = (ticks: number) => ticks / TICKS_PER_SEC / seconds;
    return {
      seconds,
      shares: this.targets.map((t) => ({ label: t.label, cores: cores(this.used.get(t.label) ?? 0) })),
      machineCores: cores(machineBusyTicks() - this.machineAtStart),
    };
  }

  private sample(): void {
    for (const target of this.targets) {
      for (const pid of target.pids()) {
        const ticks = processTicks(pid);
        if (ticks === undefined) continue;
        const last = this.lastTicks.get(pid);
        if (last !== undefined) this.used.set(target.label, (this.used.get(target.label) ?? 0) + ticks - last);
        this.lastTicks.set(pid, ticks);
      }
    }
  }
}
