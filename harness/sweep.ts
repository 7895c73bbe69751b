/**
 * `--rates`: the experiment at several offered loads, one run folder per rate under --out, then
 * load_sweep.csv and latency_vs_load.svg beside them: where each W's quorum cost is visible and
 * where queueing takes over. Shares (`40%`) are of the capacity the first share's calibration
 * measured; later shares reuse it, so every rate is offered against the same capacity.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { LOAD_SWEEP_TABLE, columnNames } from '../contracts/run-folder.ts';
import { renderSvg } from '../analysis/plots.ts';
import { latencyVsLoadSpec } from '../analysis/trace-plots.ts';
import type { Calibration } from './calibrate.ts';
import { rateFromCapacity } from './calibrate.ts';
import { runExperiment, type ExperimentHooks, type ExperimentResult } from './experiment.ts';
import { resolveOptions, type ExperimentInput, type RateSpec } from './options.ts';

export interface LoadSweepRow {
  quorum: number;
  offered_share: number | null;
  offered_writes_per_sec: number;
  achieved_writes_per_sec: number;
  latency_mean_us: number;
  latency_p50_us: number;
  latency_p99_us: number;
  stale_fraction: number | null;
  folder: string;
}

export interface LoadSweepResult {
  dir: string;
  calibration: Calibration | null;
  steps: { spec: RateSpec; result: ExperimentResult }[];
  rows: LoadSweepRow[];
  files: string[];
}

const label = (spec: RateSpec): string =>
  'share' in spec ? `${Math.round(spec.share * 1000) / 10}pct` : `${spec.perSec}per_s`;

function rowsOf(result: ExperimentResult, spec: RateSpec, folder: string): LoadSweepRow[] {
  return result.results.map((r) => ({
    quorum: r.quorum,
    offered_share: 'share' in spec ? spec.share : null,
    offered_writes_per_sec: r.targetRate ?? 0,
    achieved_writes_per_sec: Math.round(r.achievedRate * 10) / 10,
    latency_mean_us: Math.round(r.latencyStats.mean * 10) / 10,
    latency_p50_us: r.latencyStats.p50,
    latency_p99_us: r.latencyStats.p99,
    stale_fraction: r.followerReads > 0 ? Math.round((r.followerStale / r.followerReads) * 1e6) / 1e6 : null,
    folder,
  }));
}

export async function runLoadSweep(input: ExperimentInput, hooks: ExperimentHooks = {}): Promise<LoadSweepResult> {
  const options = resolveOptions(input);
  const out: LoadSweepResult = { dir: options.out, calibration: null, steps: [], rows: [], files: [] };
  for (const spec of options.rates) {
    if (hooks.signal?.aborted) break;
    const folder = `rate_${label(spec)}`;
    const rate =
      'perSec' in spec
        ? spec.perSec
        : out.calibration
          ? rateFromCapacity(out.calibration.capacityWritesPerSec, spec.share)
          : `${spec.share * 100}%`;
    const result = await runExperiment({ ...input, rates: undefined, rate, out: join(options.out, folder) }, hooks);
    out.calibration ??= result.calibration;
    out.steps.push({ spec, result });
    out.rows.push(...rowsOf(result, spec, folder));
  }
  if (out.rows.length > 0) {
    await mkdir(options.out, { recursive: true });
    const csv = stringify(out.rows as unknown as Record<string, unknown>[], {
      header: true,
      columns: [...columnNames(LOAD_SWEEP_TABLE)],
    });
    const plot = latencyVsLoadSpec(out.rows);
    for (const [name, text] of [
      ['load_sweep.csv', csv],
      [plot.file, await renderSvg(plot.spec)],
    ] as const) {
      await writeFile(join(options.out, name), text);
      out.files.push(join(options.out, name));
    }
  }
  return out;
}
