/**
 * What tracing costs (issue 9: "tracing costs ≤ 5 % of CPU per write"), by alternating pairs of
 * blocks on one cluster: `npm run bench -- trace-cost`.
 *
 * One cluster at W = 3 (bench/cluster.ts) and one client pool of two threads carry the default run's
 * kind of load: 10 clients, open loop at a fixed 150 writes/s (so both arms see the same load; the
 * pool paces it as the experiment's --rate does), read-back of all six replicas. Blocks of N measured
 * writes at --trace 0 and --trace 1 are taken in turn in ABBA order (bench/paired.ts) after an
 * unmeasured warm-up pair; every block starts with a short unmeasured warm-up of its own (the client
 * threads open new connections per step). Per block, from the end of its warm-up to the end of its
 * replication: the harness's CPU (process.cpuUsage: client threads and main thread, including the
 * client traces' transfer to the main thread) and each node's (bench/common.ts processRunUs, ns from
 * schedstat), per write.
 *
 * Why pairs: separate runs differ by ±9 % in CPU per write on this machine, more than the effect;
 * neighbouring blocks on the same processes share most of that. Each pair gives (CPU per write traced
 * ÷ untraced − 1); the target is judged on the 95 % interval of its mean over the pairs. --trace 0.25
 * is not measured: the cost is linear in the traced share.
 *
 * End of step, apart: after every block the harness fetches GET /trace from every node, joins and
 * writes trace_q3.csv (harness/trace-collect.ts) as the experiment does after a step; its CPU (harness
 * and nodes) is reported per traced write. The same collection checks that the nodes recorded every
 * traced write and nothing of an untraced block. The rings hold one block at most: POST /stats/reset
 * at the end of every block's warm-up clears them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClientPool, type ClientPool, type StepTask } from '../harness/client-pool.ts';
import { DEFAULT_READ_TIMEOUT_MS, type ClientResult } from '../harness/client.ts';
import { histogramStats, mergeEncoded } from '../harness/histogram.ts';
import { collectTraces } from '../harness/trace-collect.ts';
import { startBenchCluster, type BenchCluster } from './cluster.ts';
import { formatTable, processRunUs, round1, round2 } from './common.ts';
import { judgeAtMost, meanInterval95, pairShares, treatedFirst, type IntervalVerdict } from './paired.ts';

export interface TraceCostOptions {
  quick?: boolean;
  /** Measured pairs of blocks (default 20; quick 4). */
  pairs?: number;
  /** Measured writes per block (default 600, 4 s at 150/s; quick 300). */
  blockWrites?: number;
}

const QUORUM = 3;
const CLIENTS = 10;
const THREADS = 2;
const RATE_PER_SEC = 150;
/** Unmeasured writes at the start of every block (new connections, the rings' reset). */
const BLOCK_WARMUP = 50;
/** Issue 9: tracing costs at most this share of the CPU per write. */
const TARGET_SHARE = 0.05;
/** A block that achieved less than this share of the offered rate fell behind: the arms did not see the same load. */
const MIN_ACHIEVED_SHARE = 0.9;

export interface TraceBlock {
  /** Pair index; -1 for the warm-up pair (not kept in the result). */
  pair: number;
  trace: 0 | 1;
  /** Measured writes (sent); `failed` of them were not acknowledged. */
  writes: number;
  failed: number;
  /** CPU over the block: this process (all threads), and [leader, follower1..5], µs. */
  harnessUs: number;
  nodeUs: number[];
  achievedWritesPerSec: number;
  latencyP50Us: number;
  latencyP99Us: number;
  /** What the end-of-step collection found: client traces, leader records, the fewest records on a follower, joined writes. */
  clientTraces: number;
  leaderRecords: number;
  followerRecordsMin: number;
  joinedWrites: number;
  /** Records the nodes' rings overwrote (must stay 0). */
  droppedRecords: number;
  /** Wall of the collection, s; CPU of this process and of the nodes in it, µs. */
  collectS: number;
  collectHarnessUs: number;
  collectNodesUs: number;
}

/** One arm (all blocks at one --trace), CPU per write as the sum over its blocks ÷ their writes. */
export interface FractionFigures {
  trace: number;
  blocks: number;
  harnessUsPerWrite: number;
  nodesUsPerWrite: number;
  leaderUsPerWrite: number;
  totalUsPerWrite: number;
  /** The slowest block's achieved rate (every block must see the offered load). */
  achievedWritesPerSec: number;
  /** Client latency over the arm's blocks. */
  latencyP50Us: number;
  latencyP99Us: number;
  tracedWrites: number;
  /** End of step per block: collection wall, s; CPU per traced write of this process and of the nodes, µs. */
  traceCollectS: number;
  traceCollectCpuUsPerTracedWrite: number | null;
  nodeCollectUsPerTracedWrite: number | null;
}

export interface PairFigures {
  pair: number;
  tracedFirst: boolean;
  untracedUsPerWrite: number;
  tracedUsPerWrite: number;
  /** traced ÷ untraced − 1. */
  share: number;
}

export interface OverheadFigures {
  pairs: number;
  /** Over the pairs' shares: mean with its 95 % interval (Student t), median, standard deviation. */
  meanShare: number;
  lowShare: number | null;
  highShare: number | null;
  medianShare: number;
  sdShare: number | null;
  /** Mean over the pairs of traced − untraced CPU per write, µs: the harness and the six nodes. */
  harnessDeltaUsPerWrite: number;
  nodesDeltaUsPerWrite: number;
  /** End-of-step collection (harness + nodes) per traced write ÷ total CPU per write at trace 0. */
  collectionShare: number | null;
  /** The target judged on the interval. */
  judged: IntervalVerdict;
}

export interface TraceCostResult {
  quorum: number;
  clients: number;
  threads: number;
  ratePerSec: number;
  blockWrites: number;
  blockWarmup: number;
  fractions: FractionFigures[];
  overhead: OverheadFigures;
  /** Every traced block's writes were recorded by the leader and every follower; no untraced one left a record. */
  recordedEveryTrace: boolean;
  pairs: PairFigures[];
  blocks: TraceBlock[];
}

interface Bench {
  bc: BenchCluster;
  pool: ClientPool;
  /** Where the collection writes trace_q3.csv (temporary). */
  dir: string;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;
const nodeRunUs = (bc: BenchCluster): number[] => bc.cluster.pids.map((pid) => processRunUs(pid) ?? Number.NaN);
const minus = (before: readonly number[], after: readonly number[]): number[] => after.map((a, i) => a - before[i]!);

function stepTask(bc: BenchCluster, trace: 0 | 1, writes: number): StepTask {
  return {
    totalClients: CLIENTS,
    leaderUrl: bc.leaderUrl,
    followerUrls: bc.followerUrls,
    workload: { seed: 1, keys: 100, valueBytes: 16, readback: 1, visibility: 0, trace },
    writes,
    warmup: BLOCK_WARMUP,
    rate: RATE_PER_SEC,
    requestTimeoutMs: 10_000,
    readTimeoutMs: DEFAULT_READ_TIMEOUT_MS,
    traceCapacity: writes,
    visibilityOffsetsUs: [],
    progressIntervalMs: 0,
    progressHistogram: false,
  };
}

/** The block's load: CPU of this process and of every node from the end of its warm-up to the end of its replication. */
async function measureLoad(
  b: Bench,
  trace: 0 | 1,
  writes: number,
): Promise<{ results: ClientResult[]; harnessUs: number; nodeUs: number[] }> {
  let cpu0 = process.cpuUsage();
  let nodes0: number[] = [];
  const results = await b.pool.runStep(stepTask(b.bc, trace, writes), {
    onWarmed: async () => {
      // The warm-up's replication ends and the rings (with the stats) are emptied before the measurement.
      await b.bc.quiesceAndReset();
      nodes0 = nodeRunUs(b.bc);
      cpu0 = process.cpuUsage();
    },
  });
  // Replication of the last writes to the followers beyond the quorum belongs to this block.
  await b.bc.quiesce();
  const cpu = process.cpuUsage(cpu0);
  return { results, harnessUs: cpu.user + cpu.system, nodeUs: minus(nodes0, nodeRunUs(b.bc)) };
}

type Collected = Pick<
  TraceBlock,
  | 'clientTraces'
  | 'leaderRecords'
  | 'followerRecordsMin'
  | 'joinedWrites'
  | 'droppedRecords'
  | 'collectS'
  | 'collectHarnessUs'
  | 'collectNodesUs'
>;

/** The experiment's end of step: GET /trace from every node, join, trace_q3.csv; what the nodes recorded. */
async function collectBlock(b: Bench, results: readonly ClientResult[]): Promise<Collected> {
  const clientTraces = results.flatMap((r) => r.traces);
  const nodes0 = nodeRunUs(b.bc);
  const t0 = performance.now();
  const report = await collectTraces({
    control: b.bc.control,
    leaderUrl: b.bc.leaderUrl,
    followerUrls: b.bc.followerUrls,
    quorum: QUORUM,
    clientTraces,
    dir: b.dir,
  });
  const collectS = (performance.now() - t0) / 1000;
  const [leader, ...followers] = report.nodes;
  return {
    clientTraces: clientTraces.length,
    leaderRecords: leader?.records ?? 0,
    followerRecordsMin: Math.min(...followers.map((f) => f.records)),
    joinedWrites: report.joinedWrites,
    droppedRecords: sum(report.nodes.map((n) => n.dropped)),
    collectS: round2(collectS),
    collectHarnessUs: Math.round(report.harnessCpuS * 1e6),
    collectNodesUs: Math.round(sum(minus(nodes0, nodeRunUs(b.bc)))),
  };
}

async function measureBlock(
  b: Bench,
  pair: number,
  trace: 0 | 1,
  writes: number,
): Promise<{ block: TraceBlock; latency: string[] }> {
  const load = await measureLoad(b, trace, writes);
  const collected = await collectBlock(b, load.results);
  const ok = sum(load.results.map((r) => r.ok));
  const elapsedS = Math.max(...load.results.map((r) => r.elapsedMs)) / 1000;
  const latency = load.results.map((r) => r.latency);
  const stats = histogramStats(mergeEncoded(latency));
  const block: TraceBlock = {
    pair,
    trace,
    writes,
    failed: writes - ok,
    harnessUs: Math.round(load.harnessUs),
    nodeUs: load.nodeUs.map((us) => Math.round(us)),
    achievedWritesPerSec: elapsedS > 0 ? Math.round(ok / elapsedS) : 0,
    latencyP50Us: stats.p50,
    latencyP99Us: stats.p99,
    ...collected,
  };
  return { block, latency };
}

const usPerWrite = (bl: TraceBlock): number => (bl.harnessUs + sum(bl.nodeUs)) / bl.writes;

function fractionOf(trace: 0 | 1, blocks: readonly TraceBlock[], latency: readonly string[]): FractionFigures {
  const writes = sum(blocks.map((b) => b.writes));
  const per = (f: (b: TraceBlock) => number): number => round1(sum(blocks.map(f)) / writes);
  const traced = sum(blocks.map((b) => b.clientTraces));
  const perTraced = (f: (b: TraceBlock) => number): number | null =>
    traced > 0 ? round1(sum(blocks.map(f)) / traced) : null;
  const stats = histogramStats(mergeEncoded(latency));
  return {
    trace,
    blocks: blocks.length,
    harnessUsPerWrite: per((b) => b.harnessUs),
    nodesUsPerWrite: per((b) => sum(b.nodeUs)),
    leaderUsPerWrite: per((b) => b.nodeUs[0] ?? 0),
    totalUsPerWrite: per((b) => b.harnessUs + sum(b.nodeUs)),
    achievedWritesPerSec: Math.min(...blocks.map((b) => b.achievedWritesPerSec)),
    latencyP50Us: stats.p50,
    latencyP99Us: stats.p99,
    tracedWrites: traced,
    traceCollectS: round2(sum(blocks.map((b) => b.collectS)) / Math.max(1, blocks.length)),
    traceCollectCpuUsPerTracedWrite: perTraced((b) => b.collectHarnessUs),
    nodeCollectUsPerTracedWrite: perTraced((b) => b.collectNodesUs),
  };
}

/** The two blocks of each pair, untraced and traced. */
function pairedBlocks(blocks: readonly TraceBlock[]): Array<{ pair: number; u: TraceBlock; t: TraceBlock }> {
  const pairs = [...new Set(blocks.map((b) => b.pair))].sort((a, b) => a - b);
  return pairs.map((pair) => ({
    pair,
    u: blocks.find((b) => b.pair === pair && b.trace === 0)!,
    t: blocks.find((b) => b.pair === pair && b.trace === 1)!,
  }));
}

function overheadOf(blocks: readonly TraceBlock[], base: FractionFigures, traced: FractionFigures): OverheadFigures {
  const pairs = pairedBlocks(blocks);
  const ci = meanInterval95(pairShares(pairs.map(({ u, t }) => ({ base: usPerWrite(u), treated: usPerWrite(t) }))));
  const delta = (f: (b: TraceBlock) => number): number =>
    round1(sum(pairs.map(({ u, t }) => f(t) / t.writes - f(u) / u.writes)) / Math.max(1, pairs.length));
  const collectUs = (traced.traceCollectCpuUsPerTracedWrite ?? 0) + (traced.nodeCollectUsPerTracedWrite ?? 0);
  const finite = (x: number): number | null => (Number.isFinite(x) ? round4(x) : null);
  return {
    pairs: pairs.length,
    meanShare: round4(ci.mean),
    lowShare: finite(ci.low),
    highShare: finite(ci.high),
    medianShare: round4(ci.median),
    sdShare: finite(ci.sd),
    harnessDeltaUsPerWrite: delta((b) => b.harnessUs),
    nodesDeltaUsPerWrite: delta((b) => sum(b.nodeUs)),
    collectionShare:
      traced.tracedWrites > 0 && base.totalUsPerWrite > 0 ? round4(collectUs / base.totalUsPerWrite) : null,
    judged: judgeAtMost(ci, TARGET_SHARE),
  };
}

/** Traced blocks: every write recorded by the client, the leader and each follower, none overwritten; untraced: nothing. */
function recordedAsAsked(b: TraceBlock): boolean {
  if (b.trace === 0) return b.clientTraces === 0 && b.leaderRecords === 0 && b.followerRecordsMin === 0;
  const acked = b.writes - b.failed;
  return (
    b.clientTraces === b.writes &&
    b.leaderRecords >= acked &&
    b.followerRecordsMin >= acked &&
    b.joinedWrites >= acked &&
    b.droppedRecords === 0
  );
}

/** The result from the measured blocks and each arm's encoded latency histograms (exported for the tests). */
export function summarise(
  blocks: TraceBlock[],
  latency: [readonly string[], readonly string[]],
  blockWrites: number,
): TraceCostResult {
  const base = fractionOf(
    0,
    blocks.filter((b) => b.trace === 0),
    latency[0],
  );
  const traced = fractionOf(
    1,
    blocks.filter((b) => b.trace === 1),
    latency[1],
  );
  const pairs = pairedBlocks(blocks).map(({ pair, u, t }) => ({
    pair,
    tracedFirst: treatedFirst(pair),
    untracedUsPerWrite: round1(usPerWrite(u)),
    tracedUsPerWrite: round1(usPerWrite(t)),
    share: round4(usPerWrite(t) / usPerWrite(u) - 1),
  }));
  return {
    quorum: QUORUM,
    clients: CLIENTS,
    threads: THREADS,
    ratePerSec: RATE_PER_SEC,
    blockWrites,
    blockWarmup: BLOCK_WARMUP,
    fractions: [base, traced],
    overhead: overheadOf(blocks, base, traced),
    recordedEveryTrace: blocks.every(recordedAsAsked),
    pairs,
    blocks,
  };
}

export async function run(options: TraceCostOptions = {}): Promise<TraceCostResult> {
  // Full: 20 pairs × 2 blocks × (4 s of load + ~0.7 s around it) ≈ 3.2 minutes at 150/s.
  const pairs = options.pairs ?? (options.quick ? 4 : 20);
  const blockWrites = options.blockWrites ?? (options.quick ? 300 : 600);
  const bc = await startBenchCluster({ writeQuorum: QUORUM });
  const pool = createClientPool(THREADS);
  const b: Bench = { bc, pool, dir: mkdtempSync(join(tmpdir(), 'quorum-lab-trace-cost-')) };
  const blocks: TraceBlock[] = [];
  const latency: [string[], string[]] = [[], []];
  try {
    // Warm-up pair (JIT of both paths in every process), not kept.
    for (const trace of [0, 1] as const) await measureBlock(b, -1, trace, Math.min(300, blockWrites));
    for (let pair = 0; pair < pairs; pair++) {
      const order: Array<0 | 1> = treatedFirst(pair) ? [1, 0] : [0, 1];
      for (const trace of order) {
        const m = await measureBlock(b, pair, trace, blockWrites);
        blocks.push(m.block);
        latency[trace].push(...m.latency);
      }
    }
  } finally {
    await pool.close();
    await bc.stop();
    rmSync(b.dir, { recursive: true, force: true });
  }
  return summarise(blocks, latency, blockWrites);
}

const pct = (x: number | null): string => (x === null ? '—' : `${round1(100 * x)} %`);
const signedPct = (x: number | null): string => (x === null ? '—' : `${x > 0 ? '+' : ''}${round1(100 * x)} %`);

export function format(r: TraceCostResult): string {
  const head = `W=${r.quorum}, ${r.clients} clients on ${r.threads} threads, open loop at ${r.ratePerSec} writes/s, read-back of 6; one cluster, ${r.overhead.pairs} ABBA pairs of ${r.blockWrites}-write blocks at --trace 0 and 1 (each after ${r.blockWarmup} unmeasured writes). CPU per write: the harness process and the six nodes over each block.`;
  const arms = formatTable(
    [
      '--trace',
      'blocks',
      'harness µs/write',
      'nodes µs/write',
      'leader µs/write',
      'total µs/write',
      'writes/s (slowest block)',
      'p50 µs',
      'p99 µs',
      'traced',
      'collect s/block',
      'collect harness µs/traced',
      'collect nodes µs/traced',
    ],
    r.fractions.map((f) => [
      f.trace,
      f.blocks,
      f.harnessUsPerWrite,
      f.nodesUsPerWrite,
      f.leaderUsPerWrite,
      f.totalUsPerWrite,
      f.achievedWritesPerSec,
      f.latencyP50Us,
      f.latencyP99Us,
      f.tracedWrites,
      f.traceCollectS,
      f.traceCollectCpuUsPerTracedWrite,
      f.nodeCollectUsPerTracedWrite,
    ]),
  );
  const o = r.overhead;
  const overhead = formatTable(
    ['traced vs untraced, over the pairs', 'value'],
    [
      ['mean of (traced ÷ untraced − 1)', signedPct(o.meanShare)],
      ['95 % interval of the mean (Student t)', `${signedPct(o.lowShare)} .. ${signedPct(o.highShare)}`],
      ['median', signedPct(o.medianShare)],
      ['standard deviation of a pair', pct(o.sdShare)],
      ['harness Δ µs/write', o.harnessDeltaUsPerWrite],
      ['nodes Δ µs/write', o.nodesDeltaUsPerWrite],
      ['end-of-step collection ÷ CPU per write at trace 0', signedPct(o.collectionShare)],
      ['nodes recorded every traced write, nothing untraced', r.recordedEveryTrace ? 'yes' : 'NO'],
    ],
  );
  const shares = `Per pair (traced first in odd pairs): ${r.pairs.map((p) => signedPct(p.share)).join(', ')}`;
  return `${head}\n${arms}\n\n${overhead}\n\n${shares}`;
}

export function verdict(r: TraceCostResult): string {
  const o = r.overhead;
  const slowest = Math.min(...r.fractions.map((f) => f.achievedWritesPerSec));
  const behind = slowest < MIN_ACHIEVED_SHARE * r.ratePerSec;
  const judged = behind
    ? `no verdict: a block achieved ${slowest} of ${r.ratePerSec} writes/s (the machine fell behind, so the arms did not see the same load)`
    : !r.recordedEveryTrace
      ? 'no verdict: the nodes did not record every traced write (see the blocks)'
      : o.judged;
  return `tracing every write, CPU per write vs --trace 0 over ${o.pairs} ABBA pairs: mean ${signedPct(o.meanShare)}, 95 % interval ${signedPct(o.lowShare)} .. ${signedPct(o.highShare)}, median ${signedPct(o.medianShare)} (≤ ${pct(TARGET_SHARE)}: ${judged}); end-of-step collection ${signedPct(o.collectionShare)} more`;
}
