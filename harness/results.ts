/**
 * Merging the workers' results of one quorum step into one QuorumResult: histograms are decoded
 * and add()ed, counters summed.
 */
import type { ClientResult, ErrorCounts } from './client.ts';
import type { ClusterTarget } from './cluster-target.ts';
import type { ConvergenceResult } from './convergence.ts';
import type { FaultReport } from './fault-schedule.ts';
import type { LostWritesSummary } from './nothing-lost.ts';
import { createHistogram, histogramStats, mergeEncoded, type Histogram, type HistogramStats } from './histogram.ts';

export interface ReplicaSummary {
  replica: string;
  reads: number;
  stale: number;
  errors: number;
  readDelay: Histogram;
}

export interface VisibilityPoint {
  offsetUs: number;
  writes: number;
  fullyVisibleFraction: number;
  /** Mean realised ack -> probe send offset of the rounds that ran at this offset; null if none ran. */
  realisedOffsetMeanUs: number | null;
}

export type AvailabilityWindowName = 'all' | 'fault' | 'normal';

/** Measured writes by when they were sent: all, while a follower was faulted, or otherwise. */
export interface AvailabilityWindow {
  window: AvailabilityWindowName;
  attempted: number;
  ok: number;
  errors: ErrorCounts;
  /** ok / attempted; null when nothing was attempted in this window. */
  availability: number | null;
  latency: HistogramStats;
}

export interface QuorumResult {
  quorum: number;
  clients: number;
  threads: number;
  loadModel: 'closed' | 'open';
  targetRate: number | null;
  achievedRate: number;
  durationS: number;
  ok: number;
  errors: ErrorCounts;
  latency: Histogram;
  latencyStats: HistogramStats;
  /** Open loop only: how late the harness sent writes versus their intended time. */
  sendLagStats: HistogramStats | null;
  replicas: ReplicaSummary[];
  followerReads: number;
  followerStale: number;
  followerReadDelay: Histogram;
  staleCounts: number[];
  incompleteReadbacks: number;
  visibility: VisibilityPoint[];
  warmup: { ok: number; errors: number };
  convergence: ConvergenceResult;
  cluster: ClusterTarget['config'];
  minDelayMs: number | null;
  maxDelayMs: number | null;
  stopped: boolean;
  /** CPU the harness process (all client threads) used during the measured phase. */
  harnessCpu: HarnessCpu;
  /** harnessCpu as a fraction of the machine (user+system) / (wall x cores). */
  harnessCpuShare: number;
  phases: PhaseTimes;
  /** 'all' always; 'fault' and 'normal' too when a fault schedule ran. */
  availability: AvailabilityWindow[];
  faults: FaultReport | null;
  lostWrites: LostWritesSummary;
}

/** Wall seconds of one quorum step, by phase. */
export interface PhaseTimes {
  clusterStartS: number;
  warmupS: number;
  measureS: number;
  /** Restarting and resuming faulted followers and waiting for their catch-up (0 without faults). */
  healS: number;
  convergenceS: number;
  stopS: number;
}

export interface HarnessCpu {
  userS: number;
  systemS: number;
  wallS: number;
  cores: number;
}

export interface MergeContext {
  quorum: number;
  clients: number;
  rate: number | null;
  visibilityOffsetsUs: number[];
  convergence: ConvergenceResult;
  cluster: ClusterTarget['config'];
  minDelayMs: number | null;
  maxDelayMs: number | null;
  harnessCpu: HarnessCpu;
  phases: PhaseTimes;
  faults: FaultReport | null;
  lostWrites: LostWritesSummary;
}

function errorTotal(e: ErrorCounts): number {
  return e.quorum + e.http + e.timeout + e.connection;
}

function windowOf(window: AvailabilityWindowName, ok: number, errors: ErrorCounts, latency: Histogram): AvailabilityWindow {
  const attempted = ok + errorTotal(errors);
  return { window, attempted, ok, errors, availability: attempted > 0 ? ok / attempted : null, latency: histogramStats(latency) };
}

/** The availability rows: 'all', and with faults 'fault' (sent while a follower was faulted) and 'normal' (the rest). */
export function availabilityWindows(results: readonly ClientResult[], all: { ok: number; errors: ErrorCounts; latency: Histogram }, withFaults: boolean): AvailabilityWindow[] {
  const rows = [windowOf('all', all.ok, all.errors, all.latency)];
  if (!withFaults) return rows;
  const fErrors: ErrorCounts = { quorum: 0, http: 0, timeout: 0, connection: 0 };
  for (const r of results) for (const k of Object.keys(fErrors) as (keyof ErrorCounts)[]) fErrors[k] += r.faultWindow.errors[k];
  const fOk = results.reduce((a, r) => a + r.faultWindow.ok, 0);
  const fLatency = mergeEncoded(results.map((r) => r.faultWindow.latency));
  const nErrors: ErrorCounts = { quorum: 0, http: 0, timeout: 0, connection: 0 };
  for (const k of Object.keys(nErrors) as (keyof ErrorCounts)[]) nErrors[k] = all.errors[k] - fErrors[k];
  // Every fault-window latency was also recorded in the all-writes histogram, so the difference is the rest.
  const nLatency = createHistogram();
  nLatency.add(all.latency);
  nLatency.subtract(fLatency);
  rows.push(windowOf('fault', fOk, fErrors, fLatency), windowOf('normal', all.ok - fOk, nErrors, nLatency));
  return rows;
}

export function mergeVisibility(results: readonly ClientResult[], offsetsUs: readonly number[]): VisibilityPoint[] {
  const probed = results.reduce((a, r) => a + r.visibility.probed, 0);
  if (probed === 0) return [];
  let visible = 0;
  return offsetsUs.map((offsetUs, j) => {
    visible += results.reduce((a, r) => a + (r.visibility.firstVisible[j] ?? 0), 0);
    const rounds = results.reduce((a, r) => a + (r.visibility.rounds[j] ?? 0), 0);
    const sum = results.reduce((a, r) => a + (r.visibility.realisedSumUs[j] ?? 0), 0);
    return {
      offsetUs,
      writes: probed,
      fullyVisibleFraction: visible / probed,
      realisedOffsetMeanUs: rounds > 0 ? Math.round((sum / rounds) * 10) / 10 : null,
    };
  });
}

export function mergeResults(results: readonly ClientResult[], ctx: MergeContext): QuorumResult {
  const latency = mergeEncoded(results.map((r) => r.latency));
  const sendLag = mergeEncoded(results.map((r) => r.sendLag));
  const errors: ErrorCounts = { quorum: 0, http: 0, timeout: 0, connection: 0 };
  for (const r of results) for (const k of Object.keys(errors) as (keyof ErrorCounts)[]) errors[k] += r.errors[k];
  const ok = results.reduce((a, r) => a + r.ok, 0);

  const replicaNames = results[0]?.replicas.map((r) => r.replica) ?? [];
  const replicas: ReplicaSummary[] = replicaNames.map((replica, node) => ({
    replica,
    reads: results.reduce((a, r) => a + r.replicas[node]!.reads, 0),
    stale: results.reduce((a, r) => a + r.replicas[node]!.stale, 0),
    errors: results.reduce((a, r) => a + r.replicas[node]!.errors, 0),
    readDelay: mergeEncoded(results.map((r) => r.replicas[node]!.readDelay)),
  }));
  const followers = replicas.filter((r) => r.replica !== 'leader');
  const followerReadDelay = createHistogram();
  for (const f of followers) followerReadDelay.add(f.readDelay);

  // 0..followers stale followers; replicaNames = leader + followers.
  const staleCounts = new Array<number>(Math.max(1, replicaNames.length)).fill(0);
  for (const r of results) r.staleCounts.forEach((n, i) => (staleCounts[i] = (staleCounts[i] ?? 0) + n));

  // The threads start together, so the step lasts as long as its slowest thread.
  const durationS = Math.max(0, ...results.map((r) => r.elapsedMs)) / 1000;
  return {
    quorum: ctx.quorum,
    clients: ctx.clients,
    threads: results.length,
    loadModel: ctx.rate ? 'open' : 'closed',
    targetRate: ctx.rate,
    achievedRate: durationS > 0 ? ok / durationS : 0,
    durationS,
    ok,
    errors,
    latency,
    latencyStats: histogramStats(latency),
    sendLagStats: ctx.rate ? histogramStats(sendLag) : null,
    replicas,
    followerReads: followers.reduce((a, f) => a + f.reads, 0),
    followerStale: followers.reduce((a, f) => a + f.stale, 0),
    followerReadDelay,
    staleCounts,
    incompleteReadbacks: results.reduce((a, r) => a + r.incompleteReadbacks, 0),
    visibility: mergeVisibility(results, ctx.visibilityOffsetsUs),
    warmup: {
      ok: results.reduce((a, r) => a + r.warmup.ok, 0),
      errors: results.reduce((a, r) => a + r.warmup.errors, 0),
    },
    convergence: ctx.convergence,
    cluster: ctx.cluster,
    minDelayMs: ctx.minDelayMs,
    maxDelayMs: ctx.maxDelayMs,
    stopped: results.some((r) => r.stopped),
    harnessCpu: ctx.harnessCpu,
    phases: ctx.phases,
    availability: availabilityWindows(results, { ok, errors, latency }, ctx.faults !== null),
    faults: ctx.faults,
    lostWrites: ctx.lostWrites,
    harnessCpuShare:
      ctx.harnessCpu.wallS > 0 ? (ctx.harnessCpu.userS + ctx.harnessCpu.systemS) / (ctx.harnessCpu.wallS * ctx.harnessCpu.cores) : 0,
  };
}

/** Offsets of the visibility probes: 0, 50, 100, 200, 400 ... µs, ending with the maximum. */
export function visibilityOffsets(maxUs: number): number[] {
  const offsets = [0];
  for (let o = 50; o < maxUs; o *= 2) offsets.push(o);
  offsets.push(Math.round(maxUs));
  return offsets;
}

