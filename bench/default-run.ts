/**
 * The default experiment as a user runs it (`npm run experiment -- --quorums 1,2,3,4,5`: calibrated
 * open loop, 10 clients, read-back, traces, analysis), and the same with the leader's replication
 * thread at normal priority, and a `--clients 1` closed-loop run. From each run folder: wall time, the
 * priority applied, delay error p50/p99 and realised mean delay vs the target mean per W (the leader's
 * own record), cost per extra ack (measured, model), stale fraction per W (measured, closed form, trace
 * model), the decomposition's closure and the trace/version disagreements. Targets: issue 13 (delays,
 * wall time) and issue 9 (cost per ack ±20 % of the model, trace model within 1 pp, decomposition
 * within 2 %).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeRun } from '../analysis/analyze.ts';
import { headline } from '../analysis/headline.ts';
import { readRun } from '../analysis/read-run.ts';
import type { ExperimentInput } from '../harness/options.ts';
import { runExperiment } from '../harness/experiment.ts';
import { formatTable, noiseReport, noiseSnapshot, round1 } from './common.ts';

export interface DefaultRunOptions {
  quick?: boolean;
}

interface QuorumFigures {
  quorum: number;
  writesPerSec: number;
  latencyMeanUs: number;
  latencyP50Us: number;
  delayErrorP50Us: number | null;
  delayErrorP99Us: number | null;
  realisedMeanUs: number | null;
  targetMeanUs: number;
  realisedVsTargetPct: number | null;
  staleMeasured: number | null;
  staleModel: number | null;
  staleTraceModel: number | null;
  decompositionErrorPct: number | null;
}

export interface VariantResult {
  variant: string;
  command: string;
  wallS: number;
  leaderPriority: string | null;
  rate: number | null;
  foreignCores: number | null;
  costPerAckMeasuredUs: number | null;
  costPerAckModelUs: number | null;
  traceDisagreements: number;
  converged: boolean;
  nothingLost: boolean;
  quorums: QuorumFigures[];
}

export interface DefaultRunResult {
  variants: VariantResult[];
}

const VARIANTS: { variant: string; command: string; input: ExperimentInput }[] = [
  { variant: 'default', command: 'npm run experiment -- --quorums 1,2,3,4,5', input: { rate: 'auto' } },
  {
    variant: 'normal-priority',
    command: 'npm run experiment -- --quorums 1,2,3,4,5 --leader-priority normal',
    input: { rate: 'auto', leaderPriority: 'normal' },
  },
  {
    variant: 'clients-1',
    command: 'npm run experiment -- --quorums 1,2,3,4,5 --clients 1 --rate closed --writes 3000',
    input: { clients: 1, rate: 'closed', writes: 3000 },
  },
];

const pct = (x: number | null): number | null => (x === null ? null : round1(100 * x) / 1);

async function runVariant(v: (typeof VARIANTS)[number], quick: boolean): Promise<VariantResult> {
  const dir = mkdtempSync(join(tmpdir(), `quorum-lab-default-${v.variant}-`));
  const noise0 = noiseSnapshot();
  try {
    const input: ExperimentInput = {
      ...v.input,
      quorums: '1,2,3,4,5',
      out: dir,
      progress: false,
      ...(quick ? { writes: 500 } : {}),
    };
    const r = await runExperiment(input);
    const foreignCores = noiseReport(noise0).foreignCores;
    const run = await readRun(dir);
    const h = headline((await analyzeRun(dir)).comparison);
    const clusterMeta = r.results[0]
      ? (run.meta.leaderStats[String(r.results[0].quorum)]?.replication as { priority?: string } | undefined)
      : undefined;
    return {
      variant: v.variant,
      command: v.command,
      wallS: round1(r.wallMs / 1000),
      leaderPriority: clusterMeta?.priority ?? null,
      rate: r.options.rate,
      foreignCores,
      costPerAckMeasuredUs: h.costPerAckMeasuredUs === null ? null : round1(h.costPerAckMeasuredUs),
      costPerAckModelUs: h.costPerAckModelUs === null ? null : round1(h.costPerAckModelUs),
      traceDisagreements: h.traceDisagreements,
      converged: r.converged,
      nothingLost: r.nothingLost,
      quorums: run.summary.map((s) => {
        const targetMeanUs = ((s.min_delay_ms + s.max_delay_ms) / 2) * 1000;
        const st = h.stale.find((x) => x.quorum === s.quorum);
        const de = h.decompositionError.find((x) => x.quorum === s.quorum)?.error ?? null;
        return {
          quorum: s.quorum,
          writesPerSec: s.achieved_writes_per_sec,
          latencyMeanUs: s.latency_mean_us,
          latencyP50Us: s.latency_p50_us,
          delayErrorP50Us: s.delay_error_p50_us,
          delayErrorP99Us: s.delay_error_p99_us,
          realisedMeanUs: s.realised_delay_mean_us,
          targetMeanUs,
          realisedVsTargetPct:
            s.realised_delay_mean_us === null
              ? null
              : round1((100 * (s.realised_delay_mean_us - targetMeanUs)) / targetMeanUs),
          staleMeasured: pct(st?.measured ?? null),
          staleModel: pct(st?.model ?? null),
          staleTraceModel: pct(st?.traceModel ?? null),
          decompositionErrorPct: pct(de),
        };
      }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(options: DefaultRunOptions = {}): Promise<DefaultRunResult> {
  const variants: VariantResult[] = [];
  for (const v of VARIANTS) variants.push(await runVariant(v, options.quick ?? false));
  return { variants };
}

const f = (x: number | null): string | number => (x === null ? '–' : x);

export function format(r: DefaultRunResult): string {
  return r.variants
    .map((v) => {
      const head = `${v.variant}: \`${v.command}\` — ${v.wallS} s wall, replication thread ${v.leaderPriority ?? '?'}, ${v.rate === null ? 'closed loop' : `${v.rate} writes/s`}; cost per extra ack ${f(v.costPerAckMeasuredUs)} µs (model ${f(v.costPerAckModelUs)} µs); trace/version disagreements ${v.traceDisagreements}; converged ${v.converged}, nothing lost ${v.nothingLost}`;
      const table = formatTable(
        [
          'W',
          'writes/s',
          'mean µs',
          'p50 µs',
          'delay err p50 µs',
          'p99 µs',
          'realised mean µs',
          'vs target %',
          'stale %',
          'model %',
          'trace model %',
          'decomp. err %',
        ],
        v.quorums.map((q) => [
          q.quorum,
          q.writesPerSec,
          q.latencyMeanUs,
          q.latencyP50Us,
          f(q.delayErrorP50Us),
          f(q.delayErrorP99Us),
          f(q.realisedMeanUs),
          f(q.realisedVsTargetPct),
          f(q.staleMeasured),
          f(q.staleModel),
          f(q.staleTraceModel),
          f(q.decompositionErrorPct),
        ]),
      );
      return `${head}\n${table}`;
    })
    .join('\n\n');
}

export function verdict(r: DefaultRunResult): string {
  const parts: string[] = [];
  const d = r.variants.find((v) => v.variant === 'default');
  const n = r.variants.find((v) => v.variant === 'normal-priority');
  const c1 = r.variants.find((v) => v.variant === 'clients-1');
  const worst = (v: VariantResult | undefined, pick: (q: QuorumFigures) => number | null): number | null => {
    const xs = (v?.quorums ?? []).map(pick).filter((x): x is number => x !== null);
    return xs.length ? Math.max(...xs.map(Math.abs)) : null;
  };
  const holds = (x: number | null, limit: number): string => (x === null ? 'no data' : x <= limit ? 'holds' : 'MISSED');
  if (d) {
    const p50 = worst(d, (q) => q.delayErrorP50Us);
    const p99 = worst(d, (q) => q.delayErrorP99Us);
    parts.push(`wall ${d.wallS} s (≤ 45: ${holds(d.wallS, 45)})`);
    parts.push(
      `delay error ${d.leaderPriority} worst p50 ${f(p50)} / p99 ${f(p99)} µs (≤ 20 / 100 with real-time: ${holds(p50, 20)} / ${holds(p99, 100)})`,
    );
    parts.push(
      `realised mean vs target worst ${f(worst(d, (q) => q.realisedVsTargetPct))} % (±2: ${holds(
        worst(d, (q) => q.realisedVsTargetPct),
        2,
      )})`,
    );
    if (d.costPerAckMeasuredUs !== null && d.costPerAckModelUs) {
      const dev = Math.abs(d.costPerAckMeasuredUs / d.costPerAckModelUs - 1) * 100;
      parts.push(`cost per ack ${d.costPerAckMeasuredUs} vs ${d.costPerAckModelUs} µs (±20 %: ${holds(dev, 20)})`);
    }
  }
  if (n) {
    const p50 = worst(n, (q) => q.delayErrorP50Us);
    const p99 = worst(n, (q) => q.delayErrorP99Us);
    parts.push(`normal priority p50 ${f(p50)} / p99 ${f(p99)} µs (≤ 80 / 300: ${holds(p50, 80)} / ${holds(p99, 300)})`);
  }
  for (const v of [d, c1]) {
    if (!v) continue;
    const traceErrRaw = worst(v, (q) =>
      q.staleTraceModel === null || q.staleMeasured === null ? null : q.staleTraceModel - q.staleMeasured,
    );
    const traceErr = traceErrRaw === null ? null : round1(traceErrRaw);
    const decomp = worst(v, (q) => q.decompositionErrorPct);
    parts.push(
      `${v.variant}: trace model vs measured stale worst ${f(traceErr)} pp (≤ 1: ${holds(traceErr, 1)}), decomposition worst ${f(decomp)} % (≤ 2: ${holds(decomp, 2)})`,
    );
  }
  return parts.join('; ');
}
