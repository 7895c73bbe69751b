/**
 * Shared pieces of the benchmarks: machine description, CPU accounting of processes (this one, the
 * cluster's children, and everyone else on the machine), small statistics and a table formatter.
 * Nothing here prints; bench/run.ts does.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  platform: string;
  release: string;
  totalMemMiB: number;
  node: string;
  gitCommit: string | null;
  /** The working tree had uncommitted changes (other engineers edit it in parallel). */
  gitDirty: boolean | null;
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  let gitCommit: string | null = null;
  let gitDirty: boolean | null = null;
  try {
    const git = (args: string[]): string =>
      execFileSync('git', args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 })
        .toString()
        .trim();
    gitCommit = git(['rev-parse', 'HEAD']) || null;
    gitDirty = git(['status', '--porcelain', '--untracked-files=no']).length > 0;
  } catch {
    // not a git checkout
  }
  return {
    cpuModel: c[0]?.model ?? 'unknown',
    cores: c.length,
    platform: platform(),
    release: release(),
    totalMemMiB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    gitCommit,
    gitDirty,
  };
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc (Linux). Clock ticks are 100 Hz on every mainstream kernel; good
// enough for runs of seconds (1 % resolution at 1 s × 1 core).

const TICKS_PER_S = 100;

interface ProcStat {
  ppid: number;
  /** utime + stime of the process (all its threads), seconds. */
  selfS: number;
  /** cutime + cstime: its waited-for (reaped) descendants, seconds. */
  childrenS: number;
}

function readProcStat(pid: number | 'self'): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses; fields resume after the last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // f[0] = state (field 3), so field n is f[n - 3].
    return {
      ppid: Number(f[1]),
      selfS: (Number(f[11]) + Number(f[12])) / TICKS_PER_S,
      childrenS: (Number(f[13]) + Number(f[14])) / TICKS_PER_S,
    };
  } catch {
    return null; // gone, or not Linux
  }
}

/** CPU seconds (user + system, all threads) of a process, or null once it has exited. */
export function processCpuS(pid: number): number | null {
  return readProcStat(pid)?.selfS ?? null;
}

/**
 * CPU time of a live process in µs at nanosecond resolution: the run time of each of its threads
 * (/proc/<pid>/task/<tid>/schedstat), summed. For short measurements, where processCpuS's 10 ms
 * ticks are too coarse; threads that already exited are not counted. null when the process is gone.
 */
export function processRunUs(pid: number): number | null {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
    return ns / 1000;
  } catch {
    return null;
  }
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpuS(): { busyS: number; totalS: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
    const busy = user + nice + system + irq + softirq + steal;
    return { busyS: busy / TICKS_PER_S, totalS: (busy + idle + iowait) / TICKS_PER_S };
  } catch {
    return null;
  }
}

/**
 * CPU seconds used by this process and all its descendants, living or reaped: own utime+stime,
 * plus cutime+cstime (children that exited and were waited for, recursively), plus every live
 * descendant's own and reaped time.
 */
function treeCpuS(): number {
  const self = readProcStat('self');
  if (!self) return 0;
  let total = self.selfS + self.childrenS;
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return total;
  }
  const children = new Map<number, Array<{ pid: number; stat: ProcStat }>>();
  for (const e of entries) {
    const pid = Number(e);
    const stat = readProcStat(pid);
    if (!stat) continue;
    const list = children.get(stat.ppid);
    if (list) list.push({ pid, stat });
    else children.set(stat.ppid, [{ pid, stat }]);
  }
  const stack = [process.pid];
  while (stack.length > 0) {
    for (const c of children.get(stack.pop()!) ?? []) {
      total += c.stat.selfS + c.stat.childrenS;
      stack.push(c.pid);
    }
  }
  return total;
}

export interface NoiseSnapshot {
  atMs: number;
  loadavg: number[];
  machine: { busyS: number; totalS: number } | null;
  treeS: number;
}

export function noiseSnapshot(): NoiseSnapshot {
  return { atMs: performance.now(), loadavg: loadavg(), machine: machineCpuS(), treeS: treeCpuS() };
}

export interface NoiseReport {
  loadavgAtStart: number[];
  loadavgAtEnd: number[];
  wallS: number;
  /** Cores used by this benchmark (this process and everything it started), averaged over the run. */
  ownCores: number | null;
  /**
   * Cores used by every other process on the machine (other engineers' tests, ...), averaged over
   * the run. This, not the load average (which counts our own load), decides whether a run was noisy.
   */
  foreignCores: number | null;
  /** foreignCores > NOISY_FOREIGN_CORES. */
  noisy: boolean;
}

/** Above this many cores of other processes' CPU, a run on a 2-core machine is flagged noisy. */
export const NOISY_FOREIGN_CORES = 0.2;

export function noiseReport(start: NoiseSnapshot, end: NoiseSnapshot = noiseSnapshot()): NoiseReport {
  const wallS = (end.atMs - start.atMs) / 1000;
  const own = end.treeS - start.treeS;
  const busy = start.machine && end.machine ? end.machine.busyS - start.machine.busyS : null;
  const foreign = busy === null ? null : Math.max(0, busy - own);
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return {
    loadavgAtStart: start.loadavg.map(r2),
    loadavgAtEnd: end.loadavg.map(r2),
    wallS: r2(wallS),
    ownCores: wallS > 0 ? r2(own / wallS) : null,
    foreignCores: foreign === null || wallS <= 0 ? null : r2(foreign / wallS),
    noisy: foreign !== null && wallS > 0 && foreign / wallS > NOISY_FOREIGN_CORES,
  };
}

/** CPU seconds of a fixed set of processes, sampled (a process's last sample survives its exit). */
export interface CpuSampler {
  /** Latest CPU seconds per pid (0 before the first sample). */
  read(): number[];
  stop(): number[];
}

export function sampleCpu(pids: number[], intervalMs = 200): CpuSampler {
  const last = pids.map(() => 0);
  const sample = (): void => {
    pids.forEach((pid, i) => {
      const s = processCpuS(pid);
      if (s !== null) last[i] = s;
    });
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return {
    read: () => {
      sample();
      return [...last];
    },
    stop: () => {
      clearInterval(timer);
      sample();
      return [...last];
    },
  };
}

/** This process's CPU (all threads), seconds. */
export function ownCpuS(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting.

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Nearest-rank percentile of an ascending array, q in [0, 1]. */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export interface Summary {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(values: Float64Array | number[]): Summary {
  const s = Float64Array.from(values).sort();
  return {
    n: s.length,
    mean: round1(mean(Array.from(s))),
    p50: round1(percentileSorted(s, 0.5)),
    p99: round1(percentileSorted(s, 0.99)),
    max: round1(s.length ? s[s.length - 1]! : NaN),
  };
}

export const round1 = (x: number): number => Math.round(x * 10) / 10;
export const round2 = (x: number): number => Math.round(x * 100) / 100;
export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

export type Cell = string | number | boolean | null | undefined;

/** A markdown table (also readable in a terminal). */
export function formatTable(head: string[], rows: Cell[][]): string {
  const text = rows.map((r) =>
    r.map((c) => (c === null || c === undefined ? '' : typeof c === 'number' && !Number.isFinite(c) ? '—' : String(c))),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...text.map(line)].join('\n');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
