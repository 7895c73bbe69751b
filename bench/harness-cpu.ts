/**
 * The harness's own CPU per client request (issue 13: "the harness must not be the bottleneck"), as a
 * ratio to the reference client request measured in the same run: `npm run bench -- harness-cpu`.
 *
 * One cluster at W = 3; the default experiment's client load (10 closed-loop clients on `--threads`
 * piscina threads, read-back of all six replicas, 25 % of the writes traced) runs twice per
 * repetition with a small and a large number of writes; this process's CPU (main thread and client
 * threads, process.cpuUsage) differs by the marginal cost of the extra writes, fixed costs cancel.
 * A write with its read-back is 7 client requests (1 POST /write + 6 GET /read). Each repetition
 * measures the reference client before, between and after its two runs (the machine's load drifts),
 * and the result is the median of the repetitions' ratios, since the machine is shared.
 */
import { createClientPool, type ClientPool, type StepTask } from '../harness/client-pool.ts';
import { DEFAULT_READ_TIMEOUT_MS } from '../harness/client.ts';
import { startBenchCluster, type BenchCluster } from './cluster.ts';
import { formatTable, percentileSorted, round1, round2 } from './common.ts';
import { measureReference } from './reference-exchange.ts';

/** A write with its read-back of six replicas. */
const REQUESTS_PER_WRITE = 7;

export interface HarnessCpuOptions {
  reps?: number;
  /** [small, large] measured writes per repetition. */
  writes?: [number, number];
  threads?: number;
}

export interface HarnessCpuRep {
  referenceClientUs: number;
  harnessUsPerWrite: number;
  harnessUsPerRequest: number;
  ratio: number;
}

export interface HarnessCpuResult {
  writes: [number, number];
  threads: number;
  reps: HarnessCpuRep[];
  /** Medians over the repetitions. */
  referenceClientUs: number;
  harnessUsPerWrite: number;
  harnessUsPerRequest: number;
  ratio: number;
}

function stepTask(bc: BenchCluster, writes: number): StepTask {
  return {
    totalClients: 10,
    leaderUrl: bc.leaderUrl,
    followerUrls: bc.followerUrls,
    workload: { seed: 1, keys: 100, valueBytes: 16, readback: 1, visibility: 0, trace: 0.25 },
    writes,
    warmup: 200,
    rate: null,
    requestTimeoutMs: 10_000,
    readTimeoutMs: DEFAULT_READ_TIMEOUT_MS,
    traceCapacity: 10_000,
    visibilityOffsetsUs: [],
    progressIntervalMs: 250,
    progressHistogram: false,
  };
}

/** CPU seconds of this process (every thread) over one step. */
async function stepCpuS(pool: ClientPool, bc: BenchCluster, writes: number): Promise<number> {
  let cpu0 = process.cpuUsage();
  await pool.runStep(stepTask(bc, writes), {
    onWarmed: async () => {
      await bc.quiesce();
      cpu0 = process.cpuUsage();
    },
  });
  const d = process.cpuUsage(cpu0);
  await bc.quiesce();
  return (d.user + d.system) / 1e6;
}

async function referenceClientUs(): Promise<number> {
  return (await measureReference({ requests: 5000, warmup: 1000 })).clientCpuUs;
}

export async function run(options: HarnessCpuOptions = {}): Promise<HarnessCpuResult> {
  const [small, large] = options.writes ?? [500, 2500];
  const threads = options.threads ?? 2;
  const bc = await startBenchCluster({ writeQuorum: 3 });
  const pool = createClientPool(threads);
  const reps: HarnessCpuRep[] = [];
  try {
    // JIT warm-up of the client threads and of this thread's reference client.
    await stepCpuS(pool, bc, small);
    await referenceClientUs();
    for (let i = 0; i < (options.reps ?? 3); i++) {
      const r0 = await referenceClientUs();
      const a = await stepCpuS(pool, bc, small);
      const r1 = await referenceClientUs();
      const b = await stepCpuS(pool, bc, large);
      const r2 = await referenceClientUs();
      const referenceUs = (r0 + 2 * r1 + r2) / 4;
      const perWrite = ((b - a) * 1e6) / (large - small);
      const perRequest = perWrite / REQUESTS_PER_WRITE;
      reps.push({
        referenceClientUs: round1(referenceUs),
        harnessUsPerWrite: round1(perWrite),
        harnessUsPerRequest: round1(perRequest),
        ratio: round2(perRequest / referenceUs),
      });
    }
  } finally {
    await pool.close();
    await bc.stop();
  }
  const med = (f: (r: HarnessCpuRep) => number): number =>
    percentileSorted(
      reps.map(f).sort((x, y) => x - y),
      0.5,
    );
  return {
    writes: [small, large],
    threads,
    reps,
    referenceClientUs: med((r) => r.referenceClientUs),
    harnessUsPerWrite: med((r) => r.harnessUsPerWrite),
    harnessUsPerRequest: med((r) => r.harnessUsPerRequest),
    ratio: med((r) => r.ratio),
  };
}

export function format(r: HarnessCpuResult): string {
  const rows = r.reps.map((x, i) => [
    `rep ${i + 1}`,
    x.harnessUsPerWrite,
    x.harnessUsPerRequest,
    x.referenceClientUs,
    x.ratio,
  ]);
  rows.push(['median', r.harnessUsPerWrite, r.harnessUsPerRequest, r.referenceClientUs, r.ratio]);
  return formatTable(['', 'harness µs / write', 'µs / request', 'reference client µs', 'ratio'], rows);
}

export function verdict(r: HarnessCpuResult): string {
  return `harness CPU per client request ÷ reference client request of the same run: ${r.ratio} (median of ${r.reps.length}; the harness must not be the bottleneck: no numeric target)`;
}
