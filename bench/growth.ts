/**
 * Benchmark 6 — growth: how the cost of a run (wall time, peak RSS of the harness process) grows
 * with writes, clients and keys. Each configuration is one runExperiment (a single quorum, W = 3,
 * read-back on, analysis off) in a fresh child process (bench/growth-child.ts), so peak RSS is
 * that run's alone. Memory must stay flat with the number of writes (histograms, not sample arrays).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TSX_IMPORT_ARGS } from '../lib/ts-run.ts';
import type { ExperimentInput } from '../harness/options.ts';
import type { GrowthChildReport } from './growth-child.ts';
import { formatTable, round1, round2 } from './common.ts';

export interface GrowthOptions {
  /** Sweeps; the other two parameters stay at the base (5000 writes, 10 clients, 100 keys). Default writes 1k, 5k, 50k. */
  writes?: number[];
  clients?: number[];
  keys?: number[];
  base?: { writes: number; clients: number; keys: number };
  quorum?: number;
  /** Peak RSS may grow by at most this many MiB from the smallest to the largest write count. Default 20. */
  flatToleranceMiB?: number;
  quick?: boolean;
}

export interface GrowthPoint extends GrowthChildReport {
  sweep: 'writes' | 'clients' | 'keys';
  writes: number;
  clients: number;
  keys: number;
}

export interface GrowthResult {
  options: Required<Omit<GrowthOptions, 'quick'>>;
  points: GrowthPoint[];
  /** Peak RSS at the largest write count minus at the smallest, MiB. */
  rssGrowthWithWritesMiB: number;
  /** Wall time per 1000 extra writes between the smallest and largest write count, s. */
  secondsPer1000Writes: number;
  memoryFlat: boolean;
}

const CHILD = fileURLToPath(new URL('./growth-child.ts', import.meta.url));

function runChild(input: ExperimentInput): Promise<GrowthChildReport> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [JSON.stringify(input)], {
      execArgv: [...TSX_IMPORT_ARGS],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let report: GrowthChildReport | { error: string } | null = null;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    child.on('message', (m) => {
      report = m as GrowthChildReport | { error: string };
    });
    // Bounded: a stuck run is killed (its cluster nodes exit with their IPC channel).
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const r = report as GrowthChildReport | { error: string } | null;
      if (r && !('error' in r)) resolve(r);
      else
        reject(
          new Error(
            `growth run ${JSON.stringify(input)} failed (exit ${code}): ${r && 'error' in r ? r.error : stderr}`,
          ),
        );
    });
  });
}

export async function run(options: GrowthOptions = {}): Promise<GrowthResult> {
  const quick = options.quick ?? false;
  const opts: Required<Omit<GrowthOptions, 'quick'>> = {
    writes: options.writes ?? (quick ? [500, 2000] : [1000, 5000, 50_000]),
    clients: options.clients ?? (quick ? [1, 10] : [1, 10, 64]),
    keys: options.keys ?? (quick ? [10, 100] : [10, 100, 10_000]),
    base: options.base ?? (quick ? { writes: 1000, clients: 10, keys: 100 } : { writes: 5000, clients: 10, keys: 100 }),
    quorum: options.quorum ?? 3,
    flatToleranceMiB: options.flatToleranceMiB ?? 20,
  };
  const dir = mkdtempSync(join(tmpdir(), 'quorum-lab-growth-'));
  const configs: Array<{ sweep: GrowthPoint['sweep']; writes: number; clients: number; keys: number }> = [];
  for (const writes of opts.writes)
    configs.push({ sweep: 'writes', writes, clients: opts.base.clients, keys: opts.base.keys });
  for (const clients of opts.clients)
    configs.push({ sweep: 'clients', writes: opts.base.writes, clients, keys: opts.base.keys });
  for (const keys of opts.keys)
    configs.push({ sweep: 'keys', writes: opts.base.writes, clients: opts.base.clients, keys });
  const points: GrowthPoint[] = [];
  const byConfig = new Map<string, GrowthChildReport>();
  try {
    let i = 0;
    for (const c of configs) {
      const id = `${c.writes}/${c.clients}/${c.keys}`;
      let report = byConfig.get(id);
      if (!report) {
        // The base configuration appears in every sweep; it runs once.
        report = await runChild({
          quorums: String(opts.quorum),
          writes: c.writes,
          clients: c.clients,
          keys: c.keys,
          readback: 1,
          seed: 1,
          analyze: false,
          progress: false,
          out: join(dir, `run-${i++}`),
        });
        byConfig.set(id, report);
      }
      points.push({
        ...c,
        ...report,
        wallS: round2(report.wallS),
        baselineRssMiB: round1(report.baselineRssMiB),
        peakRssMiB: round1(report.peakRssMiB),
        peakHeapMiB: round1(report.peakHeapMiB),
        writesPerSec: Math.round(report.writesPerSec),
        phasesS: Object.fromEntries(Object.entries(report.phasesS).map(([k, v]) => [k, round2(v)])),
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ws = points.filter((p) => p.sweep === 'writes').sort((a, b) => a.writes - b.writes);
  const first = ws[0]!;
  const last = ws.at(-1)!;
  const rssGrowthWithWritesMiB = round1(last.peakRssMiB - first.peakRssMiB);
  return {
    options: opts,
    points,
    rssGrowthWithWritesMiB,
    secondsPer1000Writes: round2(((last.wallS - first.wallS) / (last.writes - first.writes)) * 1000),
    memoryFlat: rssGrowthWithWritesMiB <= opts.flatToleranceMiB,
  };
}

export function format(r: GrowthResult): string {
  const t = formatTable(
    [
      'sweep',
      'writes',
      'clients',
      'keys',
      'wall s',
      'of which load s',
      'writes/s',
      'RSS before MiB',
      'peak RSS MiB',
      'peak heap MiB',
      'converged',
    ],
    r.points.map((p) => [
      p.sweep,
      p.writes,
      p.clients,
      p.keys,
      p.wallS,
      p.phasesS.measureS,
      p.writesPerSec,
      p.baselineRssMiB,
      p.peakRssMiB,
      p.peakHeapMiB,
      p.converged ? 'yes' : 'NO',
    ]),
  );
  return `${t}\nW=${r.options.quorum}, read-back on, analysis off, one fresh process per run; ${r.secondsPer1000Writes} s per 1000 extra writes`;
}

export function verdict(r: GrowthResult): string {
  return `memory flat with writes (peak RSS growth ≤ ${r.options.flatToleranceMiB} MiB from ${r.options.writes[0]} to ${r.options.writes.at(-1)} writes): ${r.memoryFlat ? 'holds' : 'MISSED'} (${r.rssGrowthWithWritesMiB >= 0 ? '+' : ''}${r.rssGrowthWithWritesMiB} MiB)`;
}
