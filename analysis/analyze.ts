/**
 * `analyzeRun(dir)`: read a run folder, put the model beside the measurement, and write
 * model.csv, read_quorums.csv, the SVG plots, report.md, report.html and analysis.json (which analysis
 * drew them: contracts/meta.ts AnalysisMeta) into the same folder.
 * The harness calls it at the end of every experiment; analysis/cli.ts is the command line.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { QuorumLabError } from '../contracts/errors.ts';
import type { AnalysisMeta } from '../contracts/meta.ts';
import { toolInfo } from '../lib/tool-info.ts';
import { compareRun, type CompareOptions, type Comparison } from './compare.ts';
import { allPlotSpecs, renderSvg } from './plots.ts';
import { readObservedReadQuorums, readRun } from './read-run.ts';
import { DECOMPOSITION_COLUMNS } from './decomposition.ts';
import { TRACE_VISIBILITY_TABLE, columnNames } from '../contracts/run-folder.ts';
import { compareTraces, readTraces } from './trace-analysis.ts';
import { renderHtml, renderMarkdown, reportBlocks } from './report.ts';

export interface AnalyzeOptions extends Omit<CompareOptions, 'baseline'> {
  /** A zero-delay run folder of the same harness, whose latency is subtracted as overhead. */
  baselineDir?: string;
  /** Where to write the outputs (created). Default: the run folder itself. */
  outDir?: string;
}

export interface AnalyzeResult {
  dir: string;
  /** Paths of every file written. */
  files: string[];
  comparison: Comparison;
  /** Wall time of the whole analysis, ms. */
  elapsedMs: number;
}

const TRACE_VISIBILITY_COLUMNS = columnNames(TRACE_VISIBILITY_TABLE);
export const MODEL_COLUMNS = [
  'quorum',
  'followers',
  'min_delay_ms',
  'max_delay_ms',
  'model_latency_mean_us',
  'model_latency_p50_us',
  'model_latency_p99_us',
  'model_realised_latency_mean_us',
  'model_realised_latency_p50_us',
  'model_realised_latency_p99_us',
  'measured_latency_mean_us',
  'measured_latency_p50_us',
  'measured_latency_p99_us',
  'measured_latency_mean_ci95_us',
  'baseline_overhead_mean_us',
  'measured_minus_baseline_mean_us',
  'measured_minus_baseline_p50_us',
  'measured_minus_baseline_p99_us',
  'measured_minus_model_mean_us',
  'read_gap_us',
  'model_stale_fraction',
  'model_realised_stale_fraction',
  'measured_stale_fraction',
  'model_stale_followers_mean',
  'measured_stale_followers_mean',
  'model_stale_fraction_at_ack',
  'converged',
  'mismatched_keys',
  'trace_writes',
  'trace_stale_fraction',
  'trace_stale_disagreements',
  'model_trace_stale_fraction',
  'model_trace_latency_mean_us',
] as const;
export const READ_QUORUM_COLUMNS = [
  'quorum',
  'read_quorum',
  'strict_quorum',
  'model_stale_probability',
  'model_realised_stale_probability',
  'measured_stale_probability',
  'model_trace_stale_probability',
  'observed_stale_probability',
  'observed_reads',
] as const;

function csv(columns: readonly string[], rows: readonly object[]): string {
  return stringify(rows as Record<string, unknown>[], {
    header: true,
    columns: [...columns],
    cast: { boolean: (b) => (b ? 'true' : 'false') },
  });
}

/**
 * A baseline is subtracted as "the zero-delay overhead": a run with injected delays (or delays the
 * cluster did not report) would subtract part of the replication it is meant to isolate.
 */
export function checkZeroDelayBaseline(
  dir: string,
  rows: readonly { quorum: number; min_delay_ms: number | null; max_delay_ms: number | null }[],
): void {
  const bad = rows.filter((r) => r.min_delay_ms !== 0 || r.max_delay_ms !== 0);
  if (bad.length === 0) return;
  const what = bad.map((r) => `W=${r.quorum} ${r.min_delay_ms ?? '?'}..${r.max_delay_ms ?? '?'} ms`).join(', ');
  throw new QuorumLabError(
    'QL_ERR_BASELINE_DELAYS',
    `--baseline ${dir} is not a zero-delay run (${what}); make one with --min-delay 0 --max-delay 0`,
  );
}

export async function analyzeRun(dir: string, options: AnalyzeOptions = {}): Promise<AnalyzeResult> {
  const started = performance.now();
  const run = await readRun(dir);
  const baseline = options.baselineDir ? await readRun(options.baselineDir) : null;
  if (baseline) checkZeroDelayBaseline(baseline.dir, baseline.summary);
  const comparison = compareRun(run, { ...options, baseline });
  const traceMeta = run.meta.trace as { sharedClock?: boolean } | undefined;
  const trace = compareTraces(await readTraces(dir), {
    followers: run.followers,
    sharedClock: typeof traceMeta?.sharedClock === 'boolean' ? traceMeta.sharedClock : null,
    seed: options.seed,
    trials: options.monteCarloTrials,
  });
  comparison.trace = trace;
  const modelRows = comparison.rows.map((r) => ({ ...r, ...trace.perQuorum.get(r.quorum) }));
  // --read-quorum runs: what reads of R followers really saw, beside what the stale counts imply.
  const observed = new Map((await readObservedReadQuorums(dir)).map((o) => [`${o.quorum}:${o.read_quorum}`, o]));
  const readQuorumRows = comparison.readQuorums.map((r) => {
    const o = observed.get(`${r.quorum}:${r.read_quorum}`);
    return {
      ...r,
      model_trace_stale_probability: trace.readQuorumStale.get(`${r.quorum}:${r.read_quorum}`) ?? null,
      observed_stale_probability: o?.stale_fraction ?? null,
      observed_reads: o?.reads ?? null,
    };
  });

  const outputs: [string, string][] = [
    ['model.csv', csv(MODEL_COLUMNS, modelRows)],
    ['read_quorums.csv', csv(READ_QUORUM_COLUMNS, readQuorumRows)],
  ];
  if (trace.decomposition.length > 0)
    outputs.push(['decomposition.csv', csv(DECOMPOSITION_COLUMNS, trace.decomposition)]);
  if (trace.visibility.length > 0)
    outputs.push(['trace_visibility.csv', csv(TRACE_VISIBILITY_COLUMNS, trace.visibility)]);
  const plots = allPlotSpecs(run, comparison);
  const svgs = new Map<string, string>();
  for (const plot of plots) {
    const svg = await renderSvg(plot.spec);
    svgs.set(plot.file, svg);
    outputs.push([plot.file, svg]);
  }
  const blocks = reportBlocks(run, comparison, plots);
  outputs.push(['report.md', renderMarkdown(blocks)]);
  outputs.push(['report.html', renderHtml(blocks, svgs)]);
  const provenance: AnalysisMeta = {
    tool: toolInfo(),
    analyzedAt: new Date().toISOString(),
    metaSchemaVersion: run.meta.schemaVersion,
  };
  outputs.push(['analysis.json', `${JSON.stringify(provenance, null, 2)}\n`]);

  const files: string[] = [];
  const outDir = options.outDir ?? dir;
  await mkdir(outDir, { recursive: true });
  for (const [name, text] of outputs) {
    const path = join(outDir, name);
    await writeFile(path, text);
    files.push(path);
  }
  return { dir, files, comparison, elapsedMs: performance.now() - started };
}
