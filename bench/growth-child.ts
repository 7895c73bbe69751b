/**
 * One run of the growth benchmark in a fresh process, so that its peak RSS is its own:
 *   node --import tsx bench/growth-child.ts '<json ExperimentInput>'
 * Runs runExperiment and sends {wallS, peakRssMiB, baselineRssMiB, ...} to the parent over IPC.
 */
import { runExperiment } from '../harness/experiment.ts';
import type { ExperimentInput } from '../harness/options.ts';

export interface GrowthChildReport {
  wallS: number;
  /** RSS after loading the harness, before the run, MiB. */
  baselineRssMiB: number;
  /** Peak RSS of the whole process (main thread and client workers), MiB. */
  peakRssMiB: number;
  /** Largest heapUsed of the main thread seen by a 100 ms sampler, MiB. */
  peakHeapMiB: number;
  writesOk: number;
  writesPerSec: number;
  phasesS: Record<string, number>;
  converged: boolean;
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2] ?? '{}') as ExperimentInput;
  const baselineRssMiB = process.memoryUsage.rss() / 2 ** 20;
  let peakHeap = process.memoryUsage().heapUsed;
  const sampler = setInterval(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 100);
  const r = await runExperiment(input);
  clearInterval(sampler);
  const q = r.results[0]!;
  const report: GrowthChildReport = {
    wallS: r.wallMs / 1000,
    baselineRssMiB,
    // resourceUsage().maxRSS is in KiB on Linux.
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    peakHeapMiB: peakHeap / 2 ** 20,
    writesOk: q.ok,
    writesPerSec: q.achievedRate,
    phasesS: { ...q.phases },
    converged: r.converged,
  };
  process.send?.(report);
}

main().catch((err: unknown) => {
  process.send?.({ error: (err as Error).stack ?? String(err) });
  process.exitCode = 1;
});
