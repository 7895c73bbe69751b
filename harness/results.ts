/**
 * Merging the workers' results of one quorum step into one QuorumResult: histograms are decoded
 * and add()ed, counters summed.
 */
import type { ClientWriteTrace } from '../contracts/trace.ts';
import type { ClientResult, ErrorCounts, WindowName } from './client.ts';
import type { ReadQuorumState } from './client-readback.ts';
import type { LeaderLatency, LeaderWindows } from './leader-windows.ts';
import type { ClusterTarget } from './cluster-target.ts';
import type { ConvergenceResult } from './convergence.ts';
import type { FaultReport } from './fault-schedule.ts';
import { addErrorCounts, zeroErrorCounts } from './http.ts';
import type { LostWritesSummary } from './nothing-lost.ts';
import { createHistogram, histogramStats, mergeEncoded, type Histogram, type HistogramStats } from './histogram.ts';

export interface ReplicaSummary {
  replica: string;
  reads: number;
  stale: number;
  unavailable: number;
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

export type AvailabilityWindowName = WindowName;

/**
 * Measured writes by the window their intended time fell in: all, while a follower was faulted, or
 * otherwise. Open loop counts over what the schedule intended, so a write sent late or never is
 * not hidden by counting only what was attempted.
 */
export interface AvailabilityWindow {
  window: AvailabilityWindowName;
  /** Writes the schedule intended in the window (closed loop: the writes sent). */
  intended: number;
  /** Writes sent (ok + errors). */
  attempted: number;
  ok: number;
  errors: ErrorCounts;
  /** ok / attempted; null when nothing was attempted in this window. */
  availability: number | null;
  /** Sent within ON_TIME_US of their intended time. */
  sentOnTime: number;
  /** Acknowledged and sent on time. */
  okOnTime: number;
  /** okOnTime / intended: late or unsent writes count as unavailable; null when nothing was intended. */
  availabilityOfIntended: number | null;
  /** Wall time the window lasted, s. */
  windowS: number;
  /** intended / windowS and ok / windowS; null for an empty window. */
  intendedPerSec: number | null;
  achievedPerSec: number | null;
  /** Read-back reads of the window's writes that went unanswered within --read-timeout. */
  readsUnavailable: number;
  latency: HistogramStats;
  /** The leader's own write latency in the window (from /stats at its boundaries); null when not sampled. */
  leaderLatency: LeaderLatency | null;
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
  /** Read-backs left out of staleCounts because a follower did not answer with a version. */
  incompleteReadbacks: number;
  /** Read-back reads unanswered within --read-timeout, all replicas. */
  readsUnavailable: number;
  /** Of those, reads never sent because too many reads to that node were in flight. */
  readsNotSent: number;
  /** Visibility probe reads unanswered within --read-timeout. */
  probesUnavailable: number;
  /** Open-loop writes that waited because --max-in-flight writes were in flight. */
  capWaits: number;
  visibility: VisibilityPoint[];
  warmup: { ok: number; errors: number };
  convergence: ConvergenceResult;
  cluster: ClusterTarget['config'];
  minDelayMs: number | null;
  maxDelayMs: number | null;
  stopped: boolean;
  /** False when the step was interrupted (Ctrl-C): fewer writes than asked for were measured. */
  complete: boolean;
  /** Client-side traces of the traced writes (issue 9), every thread, oldest first per thread. */
  clientTraces: ClientWriteTrace[];
  /** Traced writes the threads' bounded rings let go. */
  clientTracesDropped: number;
  /** --read-quorum: per R, reads that asked R random followers and kept the newest version. */
  readQuorums: ReadQuorumState[];
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
  /** Collecting the nodes' traces, joining them and writing trace_q<W>.csv (0 when nothing was traced). */
  traceS: number;
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
  /** Measured writes the step asked for. */
  writes: number;
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
  /** The leader's write latency per window (fault runs); null otherwise. */
  leaderWindows?: LeaderWindows | null;
}

function errorTotal(e: ErrorCounts): number {
  return e.quorum + e.http + e.timeout + e.connection;
}

/** The merged counts of one window, all threads. */
export interface WindowCounts {
  intended: number;
  sentOnTime: number;
  okOnTime: number;
  ok: number;
  errors: ErrorCounts;
  readsUnavailable: number;
  latency: Histogram;
}

/** One availability row: pure arithmetic over a window's counts and its duration. */
export function availabilityRowOf(
  window: AvailabilityWindowName,
  c: WindowCounts,
  windowS: number,
  leaderLatency: LeaderLatency | null = null,
): AvailabilityWindow {
  const attempted = c.ok + errorTotal(c.errors);
  const perSec = (n: number): number | null => (windowS > 0 ? n / windowS : null);
  return {
    window,
    intended: c.intended,
    attempted,
    ok: c.ok,
    errors: c.errors,
    availability: attempted > 0 ? c.ok / attempted : null,
    sentOnTime: c.sentOnTime,
    okOnTime: c.okOnTime,
    availabilityOfIntended: c.intended > 0 ? c.okOnTime / c.intended : null,
    windowS,
    intendedPerSec: perSec(c.intended),
    achievedPerSec: perSec(c.ok),
    readsUnavailable: c.readsUnavailable,
    latency: histogramStats(c.latency),
    leaderLatency,
  };
}

export function mergeWindow(results: readonly ClientResult[], name: WindowName): WindowCounts {
  const ws = results.map((r) => r.windows[name]);
  const errors = zeroErrorCounts();
  for (const w of ws) addErrorCounts(errors, w.errors);
  const sum = (f: (w: ClientResult['windows']['all']) => number): number => ws.reduce((a, w) => a + f(w), 0);
  return {
    intended: sum((w) => w.intended),
    sentOnTime: sum((w) => w.sentOnTime),
    okOnTime: sum((w) => w.okOnTime),
    ok: sum((w) => w.ok),
    errors,
    readsUnavailable: sum((w) => w.readsUnavailable),
    latency: mergeEncoded(ws.map((w) => w.latency)),
  };
}

/** The availability rows: 'all', and with faults 'fault' (due while a follower was faulted) and 'normal' (the rest). */
export function availabilityWindows(
  results: readonly ClientResult[],
  durationS: number,
  faults: FaultReport | null,
  leader: LeaderWindows | null = null,
): AvailabilityWindow[] {
  const rows = [availabilityRowOf('all', mergeWindow(results, 'all'), durationS, leader?.all ?? null)];
  if (!faults) return rows;
  const faultS = Math.min(durationS, faults.faultWindowMs / 1000);
  rows.push(
    availabilityRowOf('fault', mergeWindow(results, 'fault'), faultS, leader?.fault ?? null),
    availabilityRowOf('normal', mergeWindow(results, 'normal'), durationS - faultS, leader?.normal ?? null),
  );
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
  const errors = zeroErrorCounts();
  for (const r of results) addErrorCounts(errors, r.errors);
  const ok = results.reduce((a, r) => a + r.ok, 0);

  const replicaNames = results[0]?.replicas.map((r) => r.replica) ?? [];
  const replicas: ReplicaSummary[] = replicaNames.map((replica, node) => ({
    replica,
    reads: results.reduce((a, r) => a + r.replicas[node]!.reads, 0),
    stale: results.reduce((a, r) => a + r.replicas[node]!.stale, 0),
    unavailable: results.reduce((a, r) => a + r.replicas[node]!.unavailable, 0),
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
    readsUnavailable: replicas.reduce((a, r) => a + r.unavailable, 0),
    readsNotSent: results.reduce((a, r) => a + r.readsNotSent, 0),
    probesUnavailable: results.reduce((a, r) => a + r.visibility.unavailable, 0),
    capWaits: results.reduce((a, r) => a + r.capWaits, 0),
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
    complete: results.reduce((a, r) => a + r.windows.all.intended, 0) >= ctx.writes,
    clientTraces: results.flatMap((r) => r.traces),
    clientTracesDropped: results.reduce((a, r) => a + r.tracesDropped, 0),
    readQuorums: (results[0]?.readQuorums ?? []).map((q, i) => ({
      readQuorum: q.readQuorum,
      reads: results.reduce((a, r) => a + r.readQuorums[i]!.reads, 0),
      stale: results.reduce((a, r) => a + r.readQuorums[i]!.stale, 0),
      unavailable: results.reduce((a, r) => a + r.readQuorums[i]!.unavailable, 0),
    })),
    harnessCpu: ctx.harnessCpu,
    phases: ctx.phases,
    availability: availabilityWindows(results, durationS, ctx.faults, ctx.leaderWindows ?? null),
    faults: ctx.faults,
    lostWrites: ctx.lostWrites,
    harnessCpuShare:
      ctx.harnessCpu.wallS > 0
        ? (ctx.harnessCpu.userS + ctx.harnessCpu.systemS) / (ctx.harnessCpu.wallS * ctx.harnessCpu.cores)
        : 0,
  };
}

/** Offsets of the visibility probes: 0, 50, 100, 200, 400 ... µs, ending with the maximum. */
export function visibilityOffsets(maxUs: number): number[] {
  const offsets = [0];
  for (let o = 50; o < maxUs; o *= 2) offsets.push(o);
  offsets.push(Math.round(maxUs));
  return offsets;
}
