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
import { leaderWindowLatency, type LeaderSample, type LeaderWindows } from './leader-windows.ts';
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
  /** Called when a quorum's measured load has ended, before the convergence check (benchmarks read the nodes' CPU there). */
  onLoadDone?: (target: ClusterTarget) => void;
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
    const mod = (await import(new URL('../analysis/analyze.ts', import.meta.url).href)) as {
      analyzeRun?: (d: string) => unknown;
    };
    if (typeof mod.analyzeRun !== 'function')
      return { ran: false, error: 'analysis/analyze.ts has no analyzeRun export' };
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
function noteUninterpretable(
  quorum: number,
  results: { uninterpretable: { count: number; example: string | null } }[],
  hooks: ExperimentHooks,
) {
  const count = results.reduce((a, r) => a + r.uninterpretable.count, 0);
  const example = results.find((r) => r.uninterpretable.example !== null)?.uninterpretable.example ?? null;
  if (count > 0)
    hooks.onWarning?.(
      `W=${quorum}: ${count} read answers could not be interpreted (counted as read errors), e.g. ${example}`,
    );
  return { count, example };
}

/** What one quorum's step gives the run: its result, and its parts of meta.json. */
interface QuorumRun {
  result: QuorumResult;
  /** meta.json cluster.perQuorum[W]. */
  cluster: Record<string, unknown>;
  leaderStats: LeaderStats;
  trace: TraceCollectReport | null;
}

function workloadOf(options: ExperimentOptions): WorkloadConfig {
  return {
    seed: options.seed,
    keys: options.keys,
    valueBytes: options.valueBytes,
    readback: options.readback,
    visibility: options.visibility,
    trace: options.trace,
  };
}

interface StepFaults {
  schedule: FaultSchedule;
  partitions: PartitionOps | null;
  shared: SharedArrayBuffer;
  /** The leader's running write latency {count, mean, histogram} at every fault-window boundary (leader-windows.ts). */
  leaderSamples: Promise<LeaderSample>[];
}

/** The fault schedule of a step, or null without --fault; installs the exit hook that removes partitions. */
function prepareFaults(
  options: ExperimentOptions,
  quorum: number,
  target: ClusterTarget,
  hooks: ExperimentHooks,
): StepFaults | null {
  if (options.faults.length === 0) return null;
  if (!target.faultOps)
    throw new FaultSupportError(
      '--fault needs a launcher that can kill, pause and restart followers (nodes/cluster.ts)',
    );
  const shared = new SharedArrayBuffer(SHARED_SLOTS * Int32Array.BYTES_PER_ELEMENT);
  const partitions = partitionOpsFor(options, target);
  if (partitions) process.once('exit', partitions.healAllSync);
  const leaderSamples: Promise<LeaderSample>[] = [];
  const schedule = createFaultSchedule({
    specs: options.faults,
    followers: target.followerNames,
    ops: target.faultOps,
    partitions: partitions ?? undefined,
    shared: new Int32Array(shared),
    writes: options.writes,
    seed: faultSeedFor(options.seed),
    catchUpTimeoutMs: options.convergenceTimeoutMs,
    onWarning: (m) => hooks.onWarning?.(`W=${quorum}: ${m}`),
    onWindowChange: (faulted) => leaderSamples.push(sampleLeader(target.control, target.leaderUrl, faulted)),
  });
  return { schedule, partitions, shared, leaderSamples };
}

/** Cancels what has not fired and removes every partition rule, whatever ended the step. */
function releaseFaults(faults: StepFaults | null): void {
  if (!faults) return;
  faults.schedule.cancel();
  if (faults.partitions) {
    faults.partitions.healAllSync();
    process.off('exit', faults.partitions.healAllSync);
  }
}

/** Let the warm-up's replication finish so none of it lands in the measured stats; then reset them. */
async function settleWarmup(
  options: ExperimentOptions,
  quorum: number,
  target: ClusterTarget,
  hooks: ExperimentHooks,
): Promise<void> {
  if (target.capabilities.stats) {
    const warm = await waitQuiescent(target.control, target.leaderUrl, options.convergenceTimeoutMs);
    if (!warm.quiescent) {
      hooks.onWarning?.(
        `W=${quorum}: replication was still pending ${warm.waitedMs} ms after the warm-up; the leader's delay statistics may include warm-up writes`,
      );
    }
  }
  await resetStats(target);
}

interface LoadOutcome {
  results: Awaited<ReturnType<ClientPool['runStep']>>;
  /** performance.now() when the measured load started. */
  goAt: number;
  warmupS: number;
  measureS: number;
  harnessCpu: { userS: number; systemS: number; wallS: number; cores: number };
}

interface LoadStep {
  options: ExperimentOptions;
  quorum: number;
  pool: ClientPool;
  target: ClusterTarget;
  workload: WorkloadConfig;
  offsetsUs: number[];
  faults: StepFaults | null;
  hooks: ExperimentHooks;
}

/** Warm-up and measured load on the client workers. */
async function runLoad(step: LoadStep): Promise<LoadOutcome> {
  const { options, quorum, target, faults, hooks } = step;
  hooks.onProgress?.({ quorum, phase: 'warmup', done: 0, total: options.writes, elapsedMs: 0 });
  const warmupAt = performance.now();
  let goAt = performance.now();
  let goCpu = process.cpuUsage();
  const results = await step.pool.runStep(
    {
      totalClients: options.clients,
      leaderUrl: target.leaderUrl,
      followerUrls: target.followerUrls,
      workload: step.workload,
      writes: options.writes,
      warmup: options.warmup,
      rate: options.rate,
      requestTimeoutMs: options.requestTimeoutMs,
      readTimeoutMs: options.readTimeoutMs,
      readQuorums: options.readQuorums,
      maxInFlight: Math.ceil(options.maxInFlight / options.threads),
      traceCapacity: Math.ceil(DEFAULT_TRACE_CAPACITY / options.threads),
      visibilityOffsetsUs: step.offsetsUs,
      progressIntervalMs: hooks.onProgress ? 250 : 0,
      progressHistogram: Boolean(hooks.onProgress),
      shared: faults?.shared ?? null,
    },
    {
      signal: hooks.signal,
      onGo: () => {
        // The stats were just reset: the load starts in the normal window at count 0.
        faults?.leaderSamples.push(Promise.resolve({ faulted: false, count: 0, meanUs: 0, hdr: null }));
        faults?.schedule.start();
      },
      onWarmed: async () => {
        await settleWarmup(options, quorum, target, hooks);
        goAt = performance.now();
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
  const measureS = (performance.now() - goAt) / 1000;
  const harnessCpu = {
    userS: cpu.user / 1e6,
    systemS: cpu.system / 1e6,
    wallS: measureS,
    cores: availableParallelism(),
  };
  return { results, goAt, warmupS: (goAt - warmupAt) / 1000, measureS, harnessCpu };
}

/** After the load: the leader's per-window latency and the healing's report. */
async function healFaults(
  faults: StepFaults,
  target: ClusterTarget,
  progress: () => void,
): Promise<{ report: FaultReport; leaderWindows: LeaderWindows; healS: number }> {
  faults.leaderSamples.push(sampleLeader(target.control, target.leaderUrl, false));
  const leaderWindows = leaderWindowLatency(await Promise.all(faults.leaderSamples));
  progress();
  const healAt = performance.now();
  const report = await faults.schedule.heal();
  return { report, leaderWindows, healS: (performance.now() - healAt) / 1000 };
}

/** The acknowledged writes each replica must hold, checked against the dumps. */
function lostWritesOf(
  results: LoadOutcome['results'],
  dumps: Parameters<typeof checkNothingLost>[1],
  target: ClusterTarget,
) {
  // Without versions in the replies, which of two concurrent writes of a key is newer is unknown.
  const byValue = results.some((r) => r.unversionedAcks > 0);
  return (byValue ? checkPresence : checkNothingLost)(
    mergeAcked(results.map((r) => r.acked)),
    dumps,
    ['leader', ...target.followerNames],
    results.reduce((a, r) => a + r.unknownOutcome, 0),
  );
}

/** meta.json's record of the step's cluster; for an external cluster, its pre-run check and store reset. */
async function prepareCluster(
  options: ExperimentOptions,
  quorum: number,
  target: ClusterTarget,
  valueVersionOf: ReturnType<typeof createValueVersions>,
  hooks: ExperimentHooks,
) {
  const cluster: Record<string, unknown> = {
    ...target.config,
    mode: target.mode,
    leaderUrl: target.leaderUrl,
    followerUrls: target.followerUrls,
    pids: target.pids,
  };
  const missing = 'missing' in target.config ? target.config.missing : [];
  if (missing.length > 0 && quorum === options.quorums[0])
    hooks.onWarning?.(`this cluster gives no ${missing.join('; no ')}`);
  const preRun =
    target.mode === 'external'
      ? await prepareExternalStep(target, valueVersionOf, options.convergenceTimeoutMs, (m) => hooks.onWarning?.(m))
      : null;
  if (preRun) cluster.storeReset = preRun.storeReset;
  return { cluster, preRun };
}

async function runQuorum(
  options: ExperimentOptions,
  quorum: number,
  pool: ClientPool,
  rootControl: Control,
  hooks: ExperimentHooks,
): Promise<QuorumRun> {
  hooks.onProgress?.({ quorum, phase: 'starting', done: 0, total: options.writes, elapsedMs: 0 });
  const startAt = performance.now();
  const target = await acquireCluster(options, quorum, rootControl, hooks.startCluster);
  const workload = workloadOf(options);
  const valueVersionOf = createValueVersions({ workload, warmup: options.warmup, writes: options.writes });
  // Where the wall time goes, per quorum (meta.json); stopS is filled in once the cluster is down.
  const phases: PhaseTimes = {
    clusterStartS: (performance.now() - startAt) / 1000,
    warmupS: 0,
    measureS: 0,
    healS: 0,
    convergenceS: 0,
    traceS: 0,
    stopS: 0,
  };
  let faults: StepFaults | null = null;
  try {
    const { cluster, preRun } = await prepareCluster(options, quorum, target, valueVersionOf, hooks);
    faults = prepareFaults(options, quorum, target, hooks);
    await hooks.onCluster?.(target);
    const offsetsUs = options.visibility > 0 ? visibilityOffsets(options.visibilityMaxUs) : [];
    const load = await runLoad({ options, quorum, pool, target, workload, offsetsUs, faults, hooks });
    phases.warmupS = load.warmupS;
    phases.measureS = load.measureS;
    hooks.onLoadDone?.(target);
    const afterLoad = (phase: 'healing' | 'converging') =>
      hooks.onProgress?.({
        quorum,
        phase,
        done: options.writes,
        total: options.writes,
        elapsedMs: performance.now() - load.goAt,
      });
    const healed = faults ? await healFaults(faults, target, () => afterLoad('healing')) : null;
    if (healed) phases.healS = healed.healS;
    afterLoad('converging');
    const convergeAt = performance.now();
    const { convergence, dumps } = await checkConvergenceWithData(
      target.control,
      target.leaderUrl,
      target.followerUrls,
      options.convergenceTimeoutMs,
      { stats: target.capabilities.stats, valueVersionOf },
    );
    if (preRun?.preRunDifferingKeys) convergence.preRunDifferingKeys = preRun.preRunDifferingKeys;
    cluster.uninterpretableReads = noteUninterpretable(quorum, load.results, hooks);
    phases.convergenceS = (performance.now() - convergeAt) / 1000;
    const result = mergeResults(load.results, {
      quorum,
      writes: options.writes,
      clients: options.clients,
      rate: options.rate,
      visibilityOffsetsUs: offsetsUs,
      convergence,
      cluster: target.config,
      minDelayMs: target.minDelayMs,
      maxDelayMs: target.maxDelayMs,
      harnessCpu: load.harnessCpu,
      phases,
      faults: healed?.report ?? null,
      lostWrites: lostWritesOf(load.results, dumps, target),
      leaderWindows: healed?.leaderWindows ?? null,
    });
    const traceAt = performance.now();
    const trace = await collectStepTraces(options, quorum, target, result, load.results);
    phases.traceS = (performance.now() - traceAt) / 1000;
    return { result, cluster, leaderStats: convergence.leaderStats, trace };
  } finally {
    releaseFaults(faults);
    const stopAt = performance.now();
    await target.release();
    phases.stopS = (performance.now() - stopAt) / 1000;
  }
}

async function collectStepTraces(
  options: ExperimentOptions,
  quorum: number,
  target: ClusterTarget,
  merged: QuorumResult,
  perThread: readonly unknown[],
): Promise<TraceCollectReport | null> {
  const clientTraces = clientTracesOf(merged, perThread);
  if (clientTraces.length === 0) return null;
  const { control, leaderUrl, followerUrls } = target;
  return collectTraces({ control, leaderUrl, followerUrls, quorum, clientTraces, dir: options.out });
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
    return {
      faulted,
      count: body.writeLatencyUs?.count ?? null,
      meanUs: body.writeLatencyUs?.mean ?? null,
      hdr: typeof body.writeLatencyHdr === 'string' ? body.writeLatencyHdr : null,
    };
  } catch {
    return { faulted, count: null, meanUs: null, hdr: null };
  }
}

/** iptables rules for the followers' loopback ports, when a spec partitions. */
function partitionOpsFor(options: ExperimentOptions, target: ClusterTarget): PartitionOps | null {
  if (!options.faults.some((f) => f.action === 'partition')) return null;
  return createPartitionOps(
    new Map(target.followerNames.map((name, i) => [name, Number(new URL(target.followerUrls[i]!).port)])),
  );
}

/**
 * Delay bounds and quorum timeout for meta.json: what the local clusters were started with, or what
 * an external leader reports (null where it reports nothing): never an option the cluster ignored.
 */
function settingsInEffect(options: ExperimentOptions, first: QuorumResult): Record<string, unknown> {
  if (!options.leader)
    return { minDelayMs: options.minDelayMs, maxDelayMs: options.maxDelayMs, quorumTimeoutMs: options.quorumTimeoutMs };
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
      ...(r.convergence.preRunDifferingKeys
        ? { preRunDifferingKeysPerFollower: r.convergence.preRunDifferingKeys }
        : {}),
    },
    availability: r.availability,
    faults: r.faults,
    lostWrites: r.lostWrites,
    stopped: r.stopped,
  };
}

/** `--rate auto` or `N%`: one calibration step fixes the rate (and, without --writes, the step's writes). */
async function calibrateRate(
  input: ExperimentInput,
  options: ExperimentOptions,
  pool: ClientPool,
  control: Control,
  hooks: ExperimentHooks,
): Promise<{ options: ExperimentOptions; calibration: Calibration }> {
  const quiet: ExperimentHooks = { ...hooks, onQuorumDone: undefined, onCluster: undefined };
  const measured = await calibrate(
    options,
    async (o) => (await runQuorum(o, o.quorums[0]!, pool, control, quiet)).result,
  );
  // Without --writes, each W's load lasts at most CALIBRATED_STEP_S at the calibrated rate.
  const writesGiven = input.writes !== undefined && input.writes !== null && input.writes !== '';
  const writes = writesGiven ? options.writes : calibratedWrites(options.writes, measured.rateWritesPerSec);
  const calibration = { ...measured, writesPerQuorum: writes };
  hooks.onCalibration?.(calibration);
  return { options: { ...options, rate: calibration.rateWritesPerSec, writes }, calibration };
}

/** meta.json and the run folder of the completed quorums; the files written. */
async function writeCompleted(
  options: ExperimentOptions,
  runs: readonly QuorumRun[],
  startedAt: Date,
  calibration: Calibration | null,
): Promise<string[]> {
  const byQuorum = <T>(f: (r: QuorumRun) => T | null): Record<string, T> =>
    Object.fromEntries(runs.flatMap((r) => (f(r) === null ? [] : [[String(r.result.quorum), f(r)!]])));
  const results = runs.map((r) => r.result);
  const traces = byQuorum((r) => r.trace);
  // The token is a secret: meta.json says only whether one was used.
  const recordedOptions = { ...options, replicationToken: options.replicationToken === null ? null : '<redacted>' };
  const meta = buildMeta({
    options: recordedOptions,
    cluster: {
      mode: options.leader ? 'external' : 'local',
      followers: options.followers?.length ?? 5,
      ...settingsInEffect(options, results[0]!),
      perQuorum: byQuorum((r) => r.cluster),
    },
    startedAt,
    endedAt: new Date(),
    leaderStats: byQuorum((r) => r.leaderStats),
    trace: traceMeta(traces),
    calibration,
    quorums: Object.fromEntries(results.map((r) => [String(r.quorum), quorumMeta(r)])),
  });
  const files = await writeRunFolder(options.out, options, results, meta);
  for (const t of Object.values(traces)) if (t.file) files.push(join(options.out, t.file));
  return files;
}

async function analyzeIfAsked(
  options: ExperimentOptions,
  results: readonly QuorumResult[],
  aborted: boolean,
  hooks: ExperimentHooks,
): Promise<AnalysisOutcome> {
  if (!options.analyze || aborted) return { ran: false, error: null };
  // The model needs the delay bounds; a cluster that does not report them leaves only the CSVs.
  if (results.some((r) => r.minDelayMs === null || r.maxDelayMs === null)) {
    const error =
      'analysis skipped: the cluster does not report its delay bounds (GET /config minDelayMs, maxDelayMs), which the model needs; the CSVs are complete';
    hooks.onWarning?.(error);
    return { ran: false, error };
  }
  const analysisAt = performance.now();
  const analysis = { ...(await runAnalysis(options.out)), elapsedMs: performance.now() - analysisAt };
  if (analysis.error) hooks.onWarning?.(analysis.error);
  return analysis;
}

export async function runExperiment(input: ExperimentInput, hooks: ExperimentHooks = {}): Promise<ExperimentResult> {
  let options = resolveOptions(input);
  const control = createControl(Math.max(options.requestTimeoutMs, 1000));
  const started = performance.now();
  const startedAt = new Date();
  const runs: QuorumRun[] = [];
  let pool: ClientPool | null = null;
  let calibration: Calibration | null = null;
  let files: string[] = [];
  let failure: unknown = null;
  try {
    // Refused before any cluster starts when this process cannot add iptables rules.
    if (options.faults.some((f) => f.action === 'partition')) checkPartitionSupport();
    await preflight(options, control);
    pool = createClientPool(options.threads);
    if (options.rateShare !== null)
      ({ options, calibration } = await calibrateRate(input, options, pool, control, hooks));
    for (const quorum of options.quorums) {
      if (hooks.signal?.aborted) break;
      const run = await runQuorum(options, quorum, pool, control, hooks);
      runs.push(run);
      hooks.onQuorumDone?.(run.result);
    }
  } catch (err) {
    failure = err;
  } finally {
    await pool?.close();
  }
  const results = runs.map((r) => r.result);
  // Completed quorums are written even when a later one failed or the run was interrupted.
  if (runs.length > 0) {
    try {
      files = await writeCompleted(options, runs, startedAt, calibration);
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
  return {
    dir: options.out,
    options,
    results,
    files,
    converged: results.length === options.quorums.length && results.every((r) => r.convergence.converged),
    nothingLost: results.every((r) => r.lostWrites.lost === 0),
    aborted,
    analysis: await analyzeIfAsked(options, results, aborted, hooks),
    wallMs: performance.now() - started,
    calibration,
  };
}
