/**
 * runExperiment(): the quorum sweep. For each W: a fresh cluster, warm-up, stats reset, the
 * measured load, convergence check, cluster stop; then the run folder and (optionally) the analysis.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { DEFAULT_TRACE_CAPACITY } from '../contracts/trace.ts';
import { SHARED_SLOTS } from './client.ts';
import { createClientPool, type ClientPool } from './client-pool.ts';
import { acquireCluster, type ClusterTarget, type StartCluster } from './cluster-target.ts';
import { createControl, type Control } from './control.ts';
import { isAbsent } from './capabilities.ts';
import { checkConvergenceWithData, type LeaderStats, waitQuiescent } from './convergence.ts';
import { prepareExternalStep } from './pre-run.ts';
import { createFaultSchedule, type FaultReport, type FaultSchedule } from './fault-schedule.ts';
import { buildMeta } from './meta.ts';
import { checkNothingLost, checkPresence, mergeAcked } from './nothing-lost.ts';
import { resolveOptions, type ExperimentInput, type ExperimentOptions } from './options.ts';
import { writeRunFolder } from './output.ts';
import { preflight } from './preflight.ts';
import { mergeResults, visibilityOffsets, type PhaseTimes, type QuorumResult } from './results.ts';
import type { ProgressView } from './summary.ts';
import { faultSeedFor, type WorkloadConfig } from './workload.ts';
import { collectTraces, traceMeta, type TraceCollectReport } from './trace-collect.ts';
import { calibrate, calibratedWrites, type Calibration } from './calibrate.ts';
import type { ClientWriteTrace } from '../contracts/trace.ts';
import { QuorumLabError } from '../contracts/errors.ts';
import { createValueVersions } from './value-versions.ts';
import { leaderWindowMeans, type LeaderSample, type LeaderWindowMeans } from './leader-windows.ts';
import type { LeaderStatsBody } from '../contracts/stats.ts';
import { checkPartitionSupport, createPartitionOps, type PartitionOps } from './partition.ts';

/** A fault schedule was asked for but the launcher cannot kill or pause nodes. */
export class FaultSupportError extends QuorumLabError {
  constructor(message: string) {
    super('QL_ERR_FAULTS_UNSUPPORTED', message);
  }
}

export interface ExperimentHooks {
  /** Abort (e.g. Ctrl-C): in-flight writes finish, the cluster stops, completed quorums are written. */
  signal?: AbortSignal;
  onProgress?: (progress: ProgressView) => void;
  /** Called once the cluster of a quorum is up (tests use it to see the pids). */
  onCluster?: (target: ClusterTarget) => void | Promise<void>;
  onQuorumDone?: (result: QuorumResult) => void;
  onWarning?: (message: string) => void;
  /** Called once the calibration step (`--rate auto` or `N%`) has fixed the rate. */
  onCalibration?: (calibration: Calibration) => void;
  /** Replace the local launcher (tests). */
  startCluster?: StartCluster;
}

export interface AnalysisOutcome {
  ran: boolean;
  error: string | null;
  result?: unknown;
  elapsedMs?: number;
}

export interface ExperimentResult {
  dir: string;
  options: ExperimentOptions;
  results: QuorumResult[];
  files: string[];
  /** Every quorum converged. */
  converged: boolean;
  /** No quorum lost an acknowledged write (lost_writes = 0 everywhere). */
  nothingLost: boolean;
  aborted: boolean;
  analysis: AnalysisOutcome;
  wallMs: number;
  /** The calibration step, when the rate was a share of the capacity. */
  calibration: Calibration | null;
}

const ANALYZE_FILE = fileURLToPath(new URL('../analysis/analyze.ts', import.meta.url));

/** The analysis is another part of the project; a missing or failing one must not cost the CSVs. */
async function runAnalysis(dir: string): Promise<AnalysisOutcome> {
  if (!existsSync(ANALYZE_FILE)) return { ran: false, error: 'analysis/analyze.ts not found; analysis skipped' };
  try {
    const mod = (await import(new URL('../analysis/analyze.ts', import.meta.url).href)) as { analyzeRun?: (d: string) => unknown };
    if (typeof mod.analyzeRun !== 'function') return { ran: false, error: 'analysis/analyze.ts has no analyzeRun export' };
    const result = await mod.analyzeRun(dir);
    return { ran: true, error: null, result };
  } catch (err) {
    return { ran: false, error: `analysis failed: ${(err as Error).message}` };
  }
}

/** POST /stats/reset on every node that has it (seed-API clusters do not). */
async function resetStats(target: ClusterTarget): Promise<void> {
  await Promise.all(
    [target.leaderUrl, ...target.followerUrls].map((u) =>
      target.control.sendJson('POST', u, '/stats/reset').catch((err: unknown) => {
        if (!isAbsent(err)) throw err;
      }),
    ),
  );
}

/** Read answers the workers could not interpret: counted as read errors, said once with an example. */
function noteUninterpretable(quorum: number, results: { uninterpretable: { count: number; example: string | null } }[], hooks: ExperimentHooks) {
  const count = results.reduce((a, r) => a + r.uninterpretable.count, 0);
  const example = results.find((r) => r.uninterpretable.example !== null)?.uninterpretable.example ?? null;
  if (count > 0) hooks.onWarning?.(`W=${quorum}: ${count} read answers could not be interpreted (counted as read errors), e.g. ${example}`);
  return { count, example };
}

async function runQuorum(
  options: ExperimentOptions,
  quorum: number,
  pool: ClientPool,
  rootControl: Control,
  hooks: ExperimentHooks,
  leaderStats: Record<string, LeaderStats>,
  clusters: Record<string, unknown>,
  traces: Record<string, TraceCollectReport>,
): Promise<QuorumResult> {
  const offsets = options.visibility > 0 ? visibilityOffsets(options.visibilityMaxUs) : [];
  hooks.onProgress?.({ quorum, phase: 'starting', done: 0, total: options.writes, elapsedMs: 0 });
  const startAt = performance.now();
  const target = await acquireCluster(options, quorum, rootControl, hooks.startCluster);
  const control = target.control;
  const workload: WorkloadConfig = {
    seed: options.seed,
    keys: options.keys,
    valueBytes: options.valueBytes,
    readback: options.readback,
    visibility: options.visibility,
    trace: options.trace,
  };
  const valueVersionOf = createValueVersions({ workload, warmup: options.warmup, writes: options.writes });
  // Where the wall time goes, per quorum (meta.json); stopS is filled in once the cluster is down.
  const phases: PhaseTimes = { clusterStartS: (performance.now() - startAt) / 1000, warmupS: 0, measureS: 0, healS: 0, convergenceS: 0, stopS: 0 };
  let schedule: FaultSchedule | null = null;
  let partitions: PartitionOps | null = null;
  // The leader's running write-latency {count, mean} at every fault-window boundary (leader-windows.ts).
  const leaderSamples: Promise<LeaderSample>[] = [];
  try {
    const clusterMeta: Record<string, unknown> = { ...target.config, mode: target.mode, leaderUrl: target.leaderUrl, followerUrls: target.followerUrls, pids: target.pids };
    clusters[String(quorum)] = clusterMeta;
    const missing = 'missing' in target.config ? target.config.missing : [];
    if (missing.length > 0 && quorum === options.quorums[0]) hooks.onWarning?.(`this cluster gives no ${missing.join('; no ')}`);
    const preRun =
      target.mode === 'external'
        ? await prepareExternalStep(target, valueVersionOf, options.convergenceTimeoutMs, (m) => hooks.onWarning?.(m))
        : null;
    if (preRun) clusterMeta.storeReset = preRun.storeReset;
    let shared: SharedArrayBuffer | null = null;
    if (options.faults.length > 0) {
      if (!target.faultOps) throw new FaultSupportError('--fault needs a launcher that can kill, pause and restart followers (nodes/cluster.ts)');
      shared = new SharedArrayBuffer(SHARED_SLOTS * Int32Array.BYTES_PER_ELEMENT);
      partitions = partitionOpsFor(options, target);
      if (partitions) process.once('exit', partitions.healAllSync);
      schedule = createFaultSchedule({
        specs: options.faults,
        followers: target.followerNames,
        ops: target.faultOps,
        partitions: partitions ?? undefined,
        shared: new Int32Array(shared),
        writes: options.writes,
        seed: faultSeedFor(options.seed),
        catchUpTimeoutMs: options.convergenceTimeoutMs,
        onWarning: (m) => hooks.onWarning?.(`W=${quorum}: ${m}`),
        onWindowChange: (faulted) => leaderSamples.push(sampleLeader(control, target.leaderUrl, faulted)),
      });
    }
    await hooks.onCluster?.(target);
    hooks.onProgress?.({ quorum, phase: 'warmup', done: 0, total: options.writes, elapsedMs: 0 });
    const warmupAt = performance.now();
    let goAt = performance.now();
    let goCpu = process.cpuUsage();
    const results = await pool.runStep(
      {
        totalClients: options.clients,
        leaderUrl: target.leaderUrl,
        followerUrls: target.followerUrls,
        workload,
        writes: options.writes,
        warmup: options.warmup,
        rate: options.rate,
        requestTimeoutMs: options.requestTimeoutMs,
        readTimeoutMs: options.readTimeoutMs,
        readQuorums: options.readQuorums,
        maxInFlight: Math.ceil(options.maxInFlight / options.threads),
        traceCapacity: Math.ceil(DEFAULT_TRACE_CAPACITY / options.threads),
        visibilityOffsetsUs: offsets,
        progressIntervalMs: hooks.onProgress ? 250 : 0,
        progressHistogram: Boolean(hooks.onProgress),
        shared,
      },
      {
        signal: hooks.signal,
        onGo: () => {
          // The stats were just reset: the load starts in the normal window at count 0.
          if (schedule) leaderSamples.push(Promise.resolve({ faulted: false, count: 0, meanUs: 0 }));
          schedule?.start();
        },
        onWarmed: async () => {
          // Let the warm-up's replication finish so none of it lands in the measured stats.
          if (target.capabilities.stats) {
            const warm = await waitQuiescent(control, target.leaderUrl, options.convergenceTimeoutMs);
            if (!warm.quiescent) {
              hooks.onWarning?.(
                `W=${quorum}: replication was still pending ${warm.waitedMs} ms after the warm-up; the leader's delay statistics may include warm-up writes`,
              );
            }
          }
          await resetStats(target);
          goAt = performance.now();
          phases.warmupS = (goAt - warmupAt) / 1000;
          goCpu = process.cpuUsage();
        },
        onProgress: hooks.onProgress
          ? (p) =>
              hooks.onProgress!({
                quorum,
                phase: 'measure',
                done: p.done,
                total: options.writes,
                elapsedMs: performance.now() - goAt,
                p50Us: p.histogram?.totalCount ? p.histogram.getValueAtPercentile(50) : undefined,
                p99Us: p.histogram?.totalCount ? p.histogram.getValueAtPercentile(99) : undefined,
              })
          : undefined,
      },
    );
    // process.cpuUsage() covers every thread of this process: the client workers plus the main thread.
    const cpu = process.cpuUsage(goCpu);
    const measuredS = (performance.now() - goAt) / 1000;
    phases.measureS = measuredS;
    const harnessCpu = { userS: cpu.user / 1e6, systemS: cpu.system / 1e6, wallS: measuredS, cores: availableParallelism() };
    let faults: FaultReport | null = null;
    let leaderWindows: LeaderWindowMeans | null = null;
    if (schedule) {
      leaderSamples.push(sampleLeader(control, target.leaderUrl, false));
      leaderWindows = leaderWindowMeans(await Promise.all(leaderSamples));
      hooks.onProgress?.({ quorum, phase: 'healing', done: options.writes, total: options.writes, elapsedMs: performance.now() - goAt });
      const healAt = performance.now();
      faults = await schedule.heal();
      schedule = null;
      phases.healS = (performance.now() - healAt) / 1000;
    }
    hooks.onProgress?.({ quorum, phase: 'converging', done: options.writes, total: options.writes, elapsedMs: performance.now() - goAt });
    const convergeAt = performance.now();
    const { convergence, dumps } = await checkConvergenceWithData(control, target.leaderUrl, target.followerUrls, options.convergenceTimeoutMs, {
      stats: target.capabilities.stats,
      valueVersionOf,
    });
    if (preRun?.preRunDifferingKeys) convergence.preRunDifferingKeys = preRun.preRunDifferingKeys;
    clusterMeta.uninterpretableReads = noteUninterpretable(quorum, results, hooks);
    phases.convergenceS = (performance.now() - convergeAt) / 1000;
    leaderStats[String(quorum)] = convergence.leaderStats;
    // Without versions in the replies, which of two concurrent writes of a key is newer is unknown.
    const byValue = results.some((r) => r.unversionedAcks > 0);
    const lostWrites = (byValue ? checkPresence : checkNothingLost)(
      mergeAcked(results.map((r) => r.acked)),
      dumps,
      ['leader', ...target.followerNames],
      results.reduce((a, r) => a + r.unknownOutcome, 0),
    );
    const merged = mergeResults(results, {
      quorum,
      writes: options.writes,
      clients: options.clients,
      rate: options.rate,
      visibilityOffsetsUs: offsets,
      convergence,
      cluster: target.config,
      minDelayMs: target.minDelayMs,
      maxDelayMs: target.maxDelayMs,
      harnessCpu,
      phases,
      faults,
      lostWrites,
      leaderWindows,
    });
    const clientTraces = clientTracesOf(merged, results);
    if (clientTraces.length > 0) {
      const { leaderUrl, followerUrls } = target;
      traces[String(quorum)] = await collectTraces({ control, leaderUrl, followerUrls, quorum, clientTraces, dir: options.out });
    }
    return merged;
  } finally {
    schedule?.cancel();
    if (partitions) {
      partitions.healAllSync();
      process.off('exit', partitions.healAllSync);
    }
    const stopAt = performance.now();
    await target.release();
    phases.stopS = (performance.now() - stopAt) / 1000;
  }
}

/** The client's traced writes of a step: from the merged result, else from the threads' results. */
function clientTracesOf(merged: unknown, perThread: readonly unknown[]): ClientWriteTrace[] {
  const of = (x: unknown): ClientWriteTrace[] | undefined => (x as { clientTraces?: ClientWriteTrace[] }).clientTraces;
  return of(merged) ?? perThread.flatMap((r) => of(r) ?? []);
}

/** The leader's running write latency now; a failed call gives an empty sample (that segment is skipped). */
async function sampleLeader(control: Control, leaderUrl: string, faulted: boolean): Promise<LeaderSample> {
  try {
    const body = await control.getJson<LeaderStatsBody>(leaderUrl, '/stats');
    return { faulted, count: body.writeLatencyUs?.count ?? null, meanUs: body.writeLatencyUs?.mean ?? null };
  } catch {
    return { faulted, count: null, meanUs: null };
  }
}

/** iptables rules for the followers' loopback ports, when a spec partitions. */
function partitionOpsFor(options: ExperimentOptions, target: ClusterTarget): PartitionOps | null {
  if (!options.faults.some((f) => f.action === 'partition')) return null;
  return createPartitionOps(new Map(target.followerNames.map((name, i) => [name, Number(new URL(target.followerUrls[i]!).port)])));
}

/**
 * Delay bounds and quorum timeout for meta.json: what the local clusters were started with, or what
 * an external leader reports (null where it reports nothing): never an option the cluster ignored.
 */
function settingsInEffect(options: ExperimentOptions, first: QuorumResult): Record<string, unknown> {
  if (!options.leader) return { minDelayMs: options.minDelayMs, maxDelayMs: options.maxDelayMs, quorumTimeoutMs: options.quorumTimeoutMs };
  const reported = 'leaderConfig' in first.cluster ? first.cluster.leaderConfig?.quorumTimeoutMs : undefined;
  return {
    minDelayMs: first.minDelayMs,
    maxDelayMs: first.maxDelayMs,
    quorumTimeoutMs: typeof reported === 'number' ? reported : null,
    settingsSource: 'read back from the leader (GET /config); null = not reported',
  };
}

function quorumMeta(r: QuorumResult): Record<string, unknown> {
  return {
    writesOk: r.ok,
    errors: r.errors,
    durationS: r.durationS,
    achievedWritesPerSec: r.achievedRate,
    latencyUs: r.latencyStats,
    sendLagUs: r.sendLagStats,
    harnessCpu: { ...r.harnessCpu, shareOfMachine: r.harnessCpuShare },
    phaseSeconds: r.phases,
    warmup: r.warmup,
    incompleteReadbacks: r.incompleteReadbacks,
    readsUnavailable: r.readsUnavailable,
    readsNotSent: r.readsNotSent,
    probesUnavailable: r.probesUnavailable,
    capWaits: r.capWaits,
    complete: r.complete,
    clientTraces: r.clientTraces.length,
    clientTracesDropped: r.clientTracesDropped,
    convergence: {
      converged: r.convergence.converged,
      quiescent: r.convergence.quiescent,
      waitedMs: r.convergence.waitedMs,
      mismatchedKeysPerFollower: r.convergence.mismatchedKeys,
      leaderKeys: r.convergence.leaderKeys,
      differingKeysPerFollower: r.convergence.differingKeys,
      ...(r.convergence.preRunDifferingKeys ? { preRunDifferingKeysPerFollower: r.convergence.preRunDifferingKeys } : {}),
    },
    availability: r.availability,
    faults: r.faults,
    lostWrites: r.lostWrites,
    stopped: r.stopped,
  };
}

export async function runExperiment(input: ExperimentInput, hooks: ExperimentHooks = {}): Promise<ExperimentResult> {
  let options = resolveOptions(input);
  const control = createControl(Math.max(options.requestTimeoutMs, 1000));
  const started = performance.now();
  const startedAt = new Date();
  const results: QuorumResult[] = [];
  const leaderStats: Record<string, LeaderStats> = {};
  const clusters: Record<string, unknown> = {};
  const traces: Record<string, TraceCollectReport> = {};
  let pool: ClientPool | null = null;
  let calibration: Calibration | null = null;
  let files: string[] = [];
  let failure: unknown = null;
  try {
    // Refused before any cluster starts when this process cannot add iptables rules.
    if (options.faults.some((f) => f.action === 'partition')) checkPartitionSupport();
    await preflight(options, control);
    pool = createClientPool(options.threads);
    if (options.rateShare !== null) {
      const p = pool;
      const quiet: ExperimentHooks = { ...hooks, onQuorumDone: undefined, onCluster: undefined };
      calibration = await calibrate(options, (o) => runQuorum(o, o.quorums[0]!, p, control, quiet, {}, {}, {}));
      // Without --writes, each W's load lasts at most CALIBRATED_STEP_S at the calibrated rate.
      const writesGiven = input.writes !== undefined && input.writes !== null && input.writes !== '';
      const writes = writesGiven ? options.writes : calibratedWrites(options.writes, calibration.rateWritesPerSec);
      calibration = { ...calibration, writesPerQuorum: writes };
      options = { ...options, rate: calibration.rateWritesPerSec, writes };
      hooks.onCalibration?.(calibration);
    }
    for (const quorum of options.quorums) {
      if (hooks.signal?.aborted) break;
      const r = await runQuorum(options, quorum, pool, control, hooks, leaderStats, clusters, traces);
      results.push(r);
      hooks.onQuorumDone?.(r);
    }
  } catch (err) {
    failure = err;
  } finally {
    await pool?.close();
  }
  // Completed quorums are written even when a later one failed or the run was interrupted.
  if (results.length > 0) {
    // The token is a secret: meta.json says only whether one was used.
    const recordedOptions = { ...options, replicationToken: options.replicationToken === null ? null : '<redacted>' };
    const meta = buildMeta({
      options: recordedOptions,
      cluster: {
        mode: options.leader ? 'external' : 'local',
        followers: options.followers?.length ?? 5,
        ...settingsInEffect(options, results[0]!),
        perQuorum: clusters,
      },
      startedAt,
      endedAt: new Date(),
      leaderStats,
      trace: traceMeta(traces),
      calibration,
      quorums: Object.fromEntries(results.map((r) => [String(r.quorum), quorumMeta(r)])),
    });
    try {
      files = await writeRunFolder(options.out, options, results, meta);
      for (const t of Object.values(traces)) if (t.file) files.push(join(options.out, t.file));
    } catch (err) {
      failure ??= err;
    }
  }
  await control.close();
  if (failure) {
    if (files.length > 0) hooks.onWarning?.(`partial results of ${results.length} quorum(s) written to ${options.out}`);
    throw failure;
  }
  const aborted = Boolean(hooks.signal?.aborted);
  let analysis: AnalysisOutcome = { ran: false, error: null };
  // The model needs the delay bounds; a cluster that does not report them leaves only the CSVs.
  const unknownDelays = results.some((r) => r.minDelayMs === null || r.maxDelayMs === null);
  if (options.analyze && !aborted && unknownDelays) {
    analysis = { ran: false, error: 'analysis skipped: the cluster does not report its delay bounds (GET /config minDelayMs, maxDelayMs), which the model needs; the CSVs are complete' };
    hooks.onWarning?.(analysis.error!);
  } else if (options.analyze && !aborted) {
    const analysisAt = performance.now();
    analysis = { ...(await runAnalysis(options.out)), elapsedMs: performance.now() - analysisAt };
    if (analysis.error) hooks.onWarning?.(analysis.error);
  }
  return {
    dir: options.out,
    options,
    results,
    files,
    converged: results.length === options.quorums.length && results.every((r) => r.convergence.converged),
    nothingLost: results.every((r) => r.lostWrites.lost === 0),
    aborted,
    analysis,
    wallMs: performance.now() - started,
    calibration,
  };
}
