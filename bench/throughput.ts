/**
 * Benchmark 4 — throughput.
 *
 * Part A: maximum writes/s with zero delay for W = 1, 3, 5 and 1 / 10 / 64 closed-loop clients,
 * driven by the harness's own request engine (harness/client-pool.ts: piscina worker threads,
 * undici Pools, HDR histograms), read-back off. One cluster per W; the CPU time of the client
 * process (process.cpuUsage, all threads) and of each node (/proc/<pid>/stat) is taken between
 * the end of the warm-up and the end of the replication tail.
 *
 * Part B: the default experiment (runExperiment with its defaults: 10,000 writes × W = 1..5,
 * 10 clients, read-back on, analysis on): wall time, the harness's phase breakdown, and the CPU of
 * every process per quorum step. Target ≤ 60 s on this 2-core machine. It runs twice: as is (the
 * launcher puts the leader under SCHED_FIFO when it may: leaderPriority 'auto'), and with the
 * leader at normal priority, the one setting changed, to show what real-time priority costs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClientPool, type ClientPool, type StepTask } from '../harness/client-pool.ts';
import { runExperiment } from '../harness/experiment.ts';
import type { StartCluster } from '../harness/cluster-target.ts';
import { startCluster } from '../nodes/cluster.ts';
import { histogramStats, mergeEncoded, type HistogramStats } from '../harness/histogram.ts';
import { cpuDelta, startBenchCluster } from './cluster.ts';
import {
  formatTable,
  noiseReport,
  noiseSnapshot,
  ownCpuS,
  round1,
  round2,
  sampleCpu,
  type CpuSampler,
} from './common.ts';

export interface ThroughputOptions {
  quorums?: number[];
  clients?: number[];
  /** Measured writes per point, by client count (the rest use the largest). */
  writesByClients?: Record<number, number>;
  warmupWrites?: number;
  /** Run part B (the default experiment). Default true. */
  defaultExperiment?: boolean;
  /** Smaller counts everywhere (smoke run). */
  quick?: boolean;
  /** Extra environment for the nodes of part A (e.g. NODE_OPTIONS=--cpu-prof for profiling). */
  nodeEnv?: Record<string, string>;
}

export interface CpuSplit {
  /** CPU seconds. */
  clientS: number;
  leaderS: number;
  followersS: number;
  /** CPU µs per successful write. */
  perWriteUs: { client: number; leader: number; followers: number; total: number };
  /** Average cores used over the measured wall time. */
  cores: { client: number; leader: number; followers: number; total: number };
}

export interface ThroughputPoint {
  quorum: number;
  leaderPriority: string;
  clients: number;
  threads: number;
  writes: number;
  errors: number;
  wallS: number;
  writesPerSec: number;
  latencyUs: HistogramStats;
  cpu: CpuSplit;
}

export interface DefaultQuorumStep {
  quorum: number;
  writesPerSec: number;
  latencyP50Us: number;
  latencyP99Us: number;
  phasesS: Record<string, number>;
  /** Harness CPU share of the machine during the measured phase (the harness's own figure). */
  harnessCpuShare: number;
  /** Whole quorum step (start-up, warm-up, load, convergence), CPU µs per measured write. */
  cpuPerWriteUs: { harness: number; leader: number; followers: number };
  converged: boolean;
}

export interface DefaultExperiment {
  /** 'defaults' = runExperiment's defaults; 'normal-priority' = the same with leaderPriority 'normal'. */
  variant: 'defaults' | 'normal-priority';
  /** The leader priority the launcher applied (from the cluster settings in meta.json), if reported. */
  leaderPriority: string | null;
  options: Record<string, unknown>;
  /** Cores other processes used meanwhile (bench/common.ts noiseReport). */
  foreignCores: number | null;
  wallS: number;
  analysisS: number | null;
  phaseTotalsS: Record<string, number>;
  quorums: DefaultQuorumStep[];
  converged: boolean;
  targetWallS: number;
  withinTarget: boolean;
}

export interface ThroughputResult {
  options: Omit<Required<ThroughputOptions>, 'nodeEnv'>;
  points: ThroughputPoint[];
  defaultExperiment: DefaultExperiment | null;
  /** The same with the leader at normal priority; null when not run. */
  defaultExperimentNormalPriority: DefaultExperiment | null;
}

function split(clientS: number, leaderS: number, followersS: number, writes: number, wallS: number): CpuSplit {
  const per = (s: number): number => round1((s * 1e6) / Math.max(1, writes));
  const cores = (s: number): number => round2(s / wallS);
  return {
    clientS: round2(clientS),
    leaderS: round2(leaderS),
    followersS: round2(followersS),
    perWriteUs: {
      client: per(clientS),
      leader: per(leaderS),
      followers: per(followersS),
      total: per(clientS + leaderS + followersS),
    },
    cores: {
      client: cores(clientS),
      leader: cores(leaderS),
      followers: cores(followersS),
      total: cores(clientS + leaderS + followersS),
    },
  };
}

async function partA(
  opts: Omit<Required<ThroughputOptions>, 'nodeEnv'>,
  nodeEnv: Record<string, string> | undefined,
): Promise<ThroughputPoint[]> {
  const cores = availableParallelism();
  const pools = new Map<number, ClientPool>();
  const poolFor = (threads: number): ClientPool => {
    let p = pools.get(threads);
    if (!p) {
      p = createClientPool(threads);
      pools.set(threads, p);
    }
    return p;
  };
  const points: ThroughputPoint[] = [];
  try {
    for (const w of opts.quorums) {
      const bc = await startBenchCluster({ writeQuorum: w, minDelayMs: 0, maxDelayMs: 0, delaySeed: w, env: nodeEnv });
      try {
        for (const clients of opts.clients) {
          const threads = Math.min(clients, cores); // the harness's default
          const writes = opts.writesByClients[clients] ?? Math.max(...Object.values(opts.writesByClients));
          const task: StepTask = {
            totalClients: clients,
            leaderUrl: bc.leaderUrl,
            followerUrls: bc.followerUrls,
            workload: { seed: 1, keys: 100, valueBytes: 16, readback: 0, visibility: 0 },
            writes,
            warmup: opts.warmupWrites,
            rate: null,
            requestTimeoutMs: 10_000,
            visibilityOffsetsUs: [],
            progressIntervalMs: 0,
            progressHistogram: false,
          };
          let cpu0 = bc.cpuS();
          let own0 = ownCpuS();
          let go = performance.now();
          const results = await poolFor(threads).runStep(task, {
            onWarmed: async () => {
              await bc.quiesceAndReset();
              cpu0 = bc.cpuS();
              own0 = ownCpuS();
              go = performance.now();
            },
          });
          const own = ownCpuS() - own0;
          const loadWallS = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
          await bc.quiesce();
          const cpu = cpuDelta(cpu0, bc.cpuS());
          const wallS = (performance.now() - go) / 1000;
          const ok = results.reduce((a, r) => a + r.ok, 0);
          const errors = results.reduce((a, r) => a + Object.values(r.errors).reduce((x, y) => x + y, 0), 0);
          points.push({
            quorum: w,
            leaderPriority: bc.leaderPriority,
            clients,
            threads,
            writes: ok,
            errors,
            wallS: round2(loadWallS),
            writesPerSec: Math.round(ok / loadWallS),
            latencyUs: histogramStats(mergeEncoded(results.map((r) => r.latency))),
            // CPU over the load plus the short replication tail, against the same wall time.
            cpu: split(own, cpu.leaderS, cpu.followersS, ok, wallS),
          });
        }
      } finally {
        await bc.stop();
      }
    }
  } finally {
    await Promise.allSettled([...pools.values()].map((p) => p.close()));
  }
  return points;
}

async function partB(quick: boolean, variant: DefaultExperiment['variant']): Promise<DefaultExperiment> {
  const dir = mkdtempSync(join(tmpdir(), 'quorum-lab-bench-'));
  const input = quick
    ? { writes: 2000, out: join(dir, 'run'), progress: false }
    : { out: join(dir, 'run'), progress: false };
  const steps = new Map<number, { sampler: CpuSampler; own0: number; own?: number; cpu?: number[] }>();
  let leaderPriority: string | null = null;
  // The launcher's own options type is wider than the harness's view of it (leaderPriority).
  const launch: StartCluster = async (o) => {
    const c = await startCluster(variant === 'normal-priority' ? { ...o, leaderPriority: 'normal' } : o);
    leaderPriority = (c as { leaderPriority?: string }).leaderPriority ?? leaderPriority;
    return c;
  };
  const noise0 = noiseSnapshot();
  try {
    const r = await runExperiment(input, {
      startCluster: launch,
      onCluster: (target) => {
        steps.set(target.quorum, { sampler: sampleCpu(target.pids, 100), own0: ownCpuS() });
      },
      onQuorumDone: (q) => {
        const s = steps.get(q.quorum);
        if (!s) return;
        s.own = ownCpuS() - s.own0;
        s.cpu = s.sampler.stop();
      },
    });
    const quorums: DefaultQuorumStep[] = r.results.map((q) => {
      const s = steps.get(q.quorum);
      const per = (sec: number | undefined): number => round1(((sec ?? NaN) * 1e6) / q.ok);
      return {
        quorum: q.quorum,
        writesPerSec: Math.round(q.achievedRate),
        latencyP50Us: q.latencyStats.p50,
        latencyP99Us: q.latencyStats.p99,
        phasesS: Object.fromEntries(Object.entries(q.phases).map(([k, v]) => [k, round2(v)])),
        harnessCpuShare: round2(q.harnessCpuShare),
        cpuPerWriteUs: {
          harness: per(s?.own),
          leader: per(s?.cpu?.[0]),
          followers: per(s?.cpu?.slice(1).reduce((a, b) => a + b, 0)),
        },
        converged: q.convergence.converged,
      };
    });
    const phaseTotalsS: Record<string, number> = {};
    for (const q of r.results)
      for (const [k, v] of Object.entries(q.phases)) phaseTotalsS[k] = round2((phaseTotalsS[k] ?? 0) + v);
    const wallS = round2(r.wallMs / 1000);
    const o = r.options;
    return {
      variant,
      leaderPriority,
      foreignCores: noiseReport(noise0).foreignCores,
      options: {
        quorums: o.quorums,
        writes: o.writes,
        warmup: o.warmup,
        clients: o.clients,
        threads: o.threads,
        keys: o.keys,
        readback: o.readback,
        analyze: o.analyze,
      },
      wallS,
      analysisS: r.analysis.elapsedMs === undefined ? null : round2(r.analysis.elapsedMs / 1000),
      phaseTotalsS,
      quorums,
      converged: r.converged,
      targetWallS: 60,
      withinTarget: wallS <= 60,
    };
  } finally {
    for (const s of steps.values()) s.sampler.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(options: ThroughputOptions = {}): Promise<ThroughputResult> {
  const quick = options.quick ?? false;
  const opts: Omit<Required<ThroughputOptions>, 'nodeEnv'> = {
    quorums: options.quorums ?? [1, 3, 5],
    clients: options.clients ?? [1, 10, 64],
    writesByClients:
      options.writesByClients ?? (quick ? { 1: 500, 10: 1500, 64: 2000 } : { 1: 3000, 10: 8000, 64: 10_000 }),
    warmupWrites: options.warmupWrites ?? (quick ? 200 : 500),
    defaultExperiment: options.defaultExperiment ?? true,
    quick,
  };
  const points = await partA(opts, options.nodeEnv);
  const defaultExperiment = opts.defaultExperiment ? await partB(quick, 'defaults') : null;
  const defaultExperimentNormalPriority = opts.defaultExperiment ? await partB(quick, 'normal-priority') : null;
  return { options: opts, points, defaultExperiment, defaultExperimentNormalPriority };
}

export function format(r: ThroughputResult): string {
  const a = formatTable(
    [
      'W',
      'leader prio',
      'clients',
      'threads',
      'writes/s',
      'p50 µs',
      'p99 µs',
      'errors',
      'CPU µs/write: client',
      'leader',
      '5 followers',
      'total',
      'cores: client',
      'leader',
      'followers',
      'total',
    ],
    r.points.map((p) => [
      p.quorum,
      p.leaderPriority,
      p.clients,
      p.threads,
      p.writesPerSec,
      p.latencyUs.p50,
      p.latencyUs.p99,
      p.errors,
      p.cpu.perWriteUs.client,
      p.cpu.perWriteUs.leader,
      p.cpu.perWriteUs.followers,
      p.cpu.perWriteUs.total,
      p.cpu.cores.client,
      p.cpu.cores.leader,
      p.cpu.cores.followers,
      p.cpu.cores.total,
    ]),
  );
  const parts = [a];
  for (const d of [r.defaultExperiment, r.defaultExperimentNormalPriority]) if (d) parts.push(formatDefault(d));
  return parts.join('\n\n');
}

function formatDefault(d: DefaultExperiment): string {
  const b = formatTable(
    [
      'W',
      'writes/s',
      'p50 µs',
      'p99 µs',
      'start s',
      'warm-up s',
      'load s',
      'converge s',
      'stop s',
      'harness CPU share',
      'CPU µs/write (whole step): harness',
      'leader',
      '5 followers',
      'converged',
    ],
    d.quorums.map((q) => [
      q.quorum,
      q.writesPerSec,
      q.latencyP50Us,
      q.latencyP99Us,
      q.phasesS.clusterStartS,
      q.phasesS.warmupS,
      q.phasesS.measureS,
      q.phasesS.convergenceS,
      q.phasesS.stopS,
      q.harnessCpuShare,
      q.cpuPerWriteUs.harness,
      q.cpuPerWriteUs.leader,
      q.cpuPerWriteUs.followers,
      q.converged ? 'yes' : 'NO',
    ]),
  );
  const totals = Object.entries(d.phaseTotalsS)
    .map(([k, v]) => `${k.replace(/S$/, '')} ${v} s`)
    .join(', ');
  const title = d.variant === 'defaults' ? 'default experiment' : 'default experiment, leader at normal priority';
  return `${title} (${d.options.writes} writes × W=${(d.options.quorums as number[]).join(',')}, ${d.options.clients} clients, read-back ${d.options.readback}; leader priority ${d.leaderPriority ?? '?'}; other processes ${d.foreignCores ?? '?'} cores):\n${b}\nphases: ${totals}; analysis ${d.analysisS ?? '—'} s; wall ${d.wallS} s`;
}

export function verdict(r: ThroughputResult): string | undefined {
  const one = (d: DefaultExperiment): string =>
    `${d.withinTarget ? 'holds' : 'MISSED'} (${d.wallS} s${d.withinTarget ? '' : `, ${round1(d.wallS - d.targetWallS)} s over`})`;
  const d = r.defaultExperiment;
  if (!d) return undefined;
  const n = r.defaultExperimentNormalPriority;
  return `target: default experiment ≤ ${d.targetWallS} s → ${one(d)}${n ? `; with the leader at normal priority: ${one(n)}` : ''}`;
}
