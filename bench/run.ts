/**
 * The benchmark runner.
 *
 *   npm run bench                      # all, in order (about 30 minutes on 2 cores; harness-soak alone 10)
 *   npm run bench -- model-fit growth  # some, by name
 *   npm run bench -- --quick           # smaller counts (a smoke run; written to a temporary folder, never over bench/results)
 *   npm run bench -- --list
 *   npm run bench -- --help
 *
 * Each benchmark prints a table and writes bench/results/<name>.json: its result plus the machine
 * (CPU model, cores, Node, git commit), the load average at start and end, and how much CPU other
 * processes used meanwhile (`noise.foreignCores`; `noise.noisy` flags a run disturbed by them).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { hideBin } from 'yargs/helpers';
import { cliFail, cliParser } from '../lib/cli.ts';
import { formatTable, machineInfo, noiseReport, noiseSnapshot, type MachineInfo, type NoiseReport } from './common.ts';
import { BENCHMARKS_MD, loadViews, renderBenchmarks } from './report.ts';

interface Benchmark {
  name: string;
  describe: string;
  /**
   * Write the result object itself with the runner's fields added, instead of wrapping it: for
   * delay-fidelity, whose own CLI writes the same file in its own format (readers keep working).
   */
  flat?: boolean;
  /** Runs the benchmark; returns [result, printable tables]. */
  run(quick: boolean): Promise<{ result: unknown; table: string; verdict?: string }>;
}

const BENCHMARKS: Benchmark[] = [
  {
    name: 'delay-fidelity',
    describe: 'realised − target delay of the precise scheduler vs setTimeout, idle and under load',
    flat: true,
    run: async (quick) => {
      const m = await import('./delay-fidelity.ts');
      const result = await m.run(quick ? { delays: 3000, sparseDelays: 200 } : {});
      const load = result.results.find((r) => r.scenario === 'load' && r.strategy === 'precise');
      const verdict = load
        ? `target under load: p50 ≤ 20 µs (${load.absErrorUs.p50}), p99 ≤ 100 µs (${load.absErrorUs.p99}) → ${load.absErrorUs.p50 <= 20 && load.absErrorUs.p99 <= 100 ? 'holds' : 'MISSED'}`
        : undefined;
      return { result, table: m.formatTable(result), verdict };
    },
  },
  {
    name: 'node-overhead',
    describe: 'single-client write latency with zero delay, W=1..5, vs bare HTTP round trips',
    run: async (quick) => {
      const m = await import('./node-overhead.ts');
      const result = await m.run(quick ? { writesPerQuorum: 500, warmupWrites: 100, bareRequestsPerBlock: 200 } : {});
      return { result, table: m.format(result) };
    },
  },
  {
    name: 'model-fit',
    describe: 'mean write latency minus zero-delay baseline vs E[d_(W)]',
    run: async (quick) => {
      const m = await import('./model-fit.ts');
      const result = await m.run(quick ? { writesPerQuorum: 400, isolatedWritesPerQuorum: 200, blocks: 2 } : {});
      return { result, table: m.format(result), verdict: m.verdict(result) };
    },
  },
  {
    name: 'throughput',
    describe: 'max writes/s (zero delay) for W=1,3,5 × 1/10/64 clients, CPU split; default experiment wall time',
    run: async (quick) => {
      const m = await import('./throughput.ts');
      const result = await m.run(quick ? { quick: true } : {});
      return { result, table: m.format(result), verdict: m.verdict(result) };
    },
  },
  {
    name: 'loadgen-vs-autocannon',
    describe: "the harness's request engine vs autocannon on a follower's GET /read",
    run: async (quick) => {
      const m = await import('./loadgen.ts');
      const result = await m.run(quick ? { durationS: 2 } : {});
      return { result, table: m.format(result), verdict: m.verdict(result) };
    },
  },
  {
    name: 'growth',
    describe: 'wall time and peak RSS of a run vs writes, clients, keys',
    run: async (quick) => {
      const m = await import('./growth.ts');
      const result = await m.run(quick ? { quick: true } : {});
      return { result, table: m.format(result), verdict: m.verdict(result) };
    },
  },
  {
    name: 'soak',
    describe: '60 s at a sustainable rate (W=3), a follower restarted every 10 s: crashes, lost writes, RSS growth',
    run: async (quick) => {
      const m = await import('./soak.ts');
      const result = await m.run(quick ? { quick: true } : {});
      return { result, table: m.format(result), verdict: m.verdict(result) };
    },
  },
  {
    name: 'harness-soak',
    describe:
      "10 minutes of open-loop load (W=3, 200 writes/s, full read-back, tracing on, a follower restarted every 2 min): the harness's own memory per minute",
    run: async (quick) => {
      const m = await import('./soak.ts');
      const result = await m.run(
        quick
          ? { quick: true }
          : { durationS: 600, rate: 200, restartEveryS: 120, readback: 1, clients: 10, sampleMs: 5000 },
      );
      const perMinute = result.samples.filter(
        (s, i, all) => s.t >= 0 && (i === all.length - 1 || Math.floor(s.t / 60) !== Math.floor(all[i + 1]!.t / 60)),
      );
      const table = formatTable(
        ['minute', ...perMinute.map((s) => String(Math.round(s.t / 60)))],
        [['harness RSS MiB', ...perMinute.map((s) => s.harnessMiB)]],
      );
      const h = result.harnessRss;
      const firstMinute = perMinute[0]?.harnessMiB ?? null;
      const growth = firstMinute === null || h.endMiB === null ? null : Math.round((h.endMiB - firstMinute) * 10) / 10;
      const verdict = `harness RSS ${firstMinute} MiB after the first minute, ${h.endMiB} MiB at the end, peak ${h.peakMiB} MiB: ${growth === null ? 'no data' : growth <= 20 ? `flat (+${growth} MiB over 9 min) → holds` : `+${growth} MiB → GROWING`}; lost ${result.lostWrites}, converged ${result.converged}`;
      return { result, table: `${table}\n\n${m.format(result)}`, verdict };
    },
  },
  {
    name: 'default-run',
    describe:
      'the default experiment as a user runs it, the same at normal priority, and a --clients 1 run: delay fidelity, wall time, cost per ack, trace model and decomposition (issues 9 and 13)',
    run: async (quick) => {
      const m = await import('./default-run.ts');
      const result = await m.run({ quick });
      return { result, table: m.format(result), verdict: m.verdict(result) };
    },
  },
  {
    name: 'faults',
    describe:
      'W=3 at 600 writes/s (and 300, 150) with follower2 paused, partitioned or killed for 12 s: writes sent on time, client vs leader latency, unavailable reads, lost writes (issue 12)',
    run: async (quick) => {
      const m = await import('./faults.ts');
      const result = await m.run({ quick });
      return { result, table: m.format(result), verdict: m.verdict(result) };
    },
  },
  {
    name: 'reference-exchange',
    describe:
      'the yardstick: CPU of one bare node:http JSON exchange with an undici client (10 keep-alive connections), per side',
    run: async (quick) => {
      const m = await import('./reference-exchange.ts');
      const result = await m.run({ quick });
      return { result, table: m.format(result) };
    },
  },
  {
    name: 'cpu-per-write',
    describe:
      'marginal CPU per write (whole machine, W=3, default experiment), leader per write, follower per replication message, as ratios to reference exchanges of the same run',
    run: async (quick) => {
      const m = await import('./cpu-per-write.ts');
      const result = await m.run({ quick });
      return { result, table: m.format(result), verdict: m.verdict(result) };
    },
  },
  {
    name: 'trace-cost',
    describe:
      'CPU per write of the harness and the nodes, --trace 1 vs 0 in alternating (ABBA) pairs of blocks on one cluster (W=3, 10 clients open loop at 150 writes/s, read-back of 6), judged on the 95 % interval over the pairs; the end-of-step trace collection apart',
    run: async (quick) => {
      const m = await import('./trace-cost.ts');
      const result = await m.run({ quick });
      return { result, table: m.format(result), verdict: m.verdict(result) };
    },
  },
  {
    name: 'harness-cpu',
    describe:
      "the harness's own marginal CPU per client request (W=3, 10 closed-loop clients, read-back of 6, 25 % traced) ÷ a bare undici client request measured in the same run",
    run: async (quick) => {
      const m = await import('./harness-cpu.ts');
      const result = await m.run(quick ? { reps: 1, writes: [300, 1200] } : {});
      return { result, table: m.format(result), verdict: m.verdict(result) };
    },
  },
  {
    name: 'cluster-start',
    describe: '`npm run cluster` until all six /health answer, and startCluster() alone (the harness path)',
    run: async (quick) => {
      const m = await import('./cluster-start.ts');
      const result = await m.run({ quick });
      return { result, table: m.format(result), verdict: m.verdict(result) };
    },
  },
  {
    name: 'express-vs-http',
    describe:
      "CPU per request (a follower's GET /read) and per write (W=3 cluster) with SERVER=http and SERVER=express",
    run: async (quick) => {
      const m = await import('./express-vs-http.ts');
      const result = await m.run({ quick });
      return { result, table: m.format(result), verdict: m.verdict(result) };
    },
  },
  {
    name: 'node-requests',
    describe:
      "a node's CPU per request, isolated: a follower's GET /read, /replicate, /replicate/batch; a leader's writes with and without read-back; beside the reference server of the same rounds",
    run: async (quick) => {
      const m = await import('./node-requests.ts');
      const result = await m.run(quick ? { requests: 2000, warmup: 300, rounds: 1 } : {});
      return { result, table: m.format(result) };
    },
  },
];

export interface BenchFile {
  benchmark: string;
  describe: string;
  /** The table as printed, which BENCHMARKS.md quotes (bench/report.ts). */
  table: string;
  date: string;
  machine: MachineInfo;
  noise: NoiseReport;
  quick: boolean;
  verdict: string | null;
  result: unknown;
}

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

/**
 * Where results go: --out if given; else a quick run goes to a fresh temporary folder (its figures are a
 * smoke test and must not replace the committed ones), a full run to bench/results/.
 */
export function resultsDir(out: string | undefined, quick: boolean): string {
  if (out !== undefined) return resolve(out);
  return quick ? mkdtempSync(join(tmpdir(), 'quorum-lab-bench-quick-')) : RESULTS_DIR;
}

const USAGE = `$0 [name ...] [--quick] [--out <dir>]

Run the benchmarks (all, or those named) and write <dir>/<name>.json for each.
Full runs write bench/results/ (the figures BENCHMARKS.md quotes); --quick runs write a temporary folder.
Names: ${BENCHMARKS.map((b) => b.name).join(', ')} (--list describes them).`;

async function main(): Promise<void> {
  const argv = cliParser('bench', 'npm run bench --', USAGE, hideBin(process.argv))
    // Names are positionals; only unknown flags are refused by the parser.
    .strict(false)
    .strictOptions(true)
    .option('quick', {
      type: 'boolean',
      default: false,
      describe: 'smaller counts: a smoke run, not figures for BENCHMARKS.md',
    })
    .option('list', { type: 'boolean', default: false, describe: 'list the benchmarks and exit' })
    .option('out', {
      type: 'string',
      describe: 'folder for the result files',
      defaultDescription: 'bench/results/, or a temporary folder with --quick',
    })
    .parseSync();
  const positionals = argv._.map(String);
  if (argv.list) {
    for (const b of BENCHMARKS) console.log(`${b.name.padEnd(24)}${b.describe}`);
    return;
  }
  const unknown = positionals.filter((p) => !BENCHMARKS.some((b) => b.name === p));
  if (unknown.length > 0)
    cliFail('bench', `unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`);
  const values = { quick: argv.quick };
  const selected = positionals.length > 0 ? BENCHMARKS.filter((b) => positionals.includes(b.name)) : BENCHMARKS;
  const outDir = resultsDir(argv.out, argv.quick);
  mkdirSync(outDir, { recursive: true });
  if (argv.quick && argv.out === undefined)
    console.log(`--quick: results go to ${outDir} (bench/results/ keeps the full runs)`);
  const machine = machineInfo();
  console.log(
    `quorum-lab benchmarks — ${machine.cpuModel} × ${machine.cores} cores, Node ${machine.node}, commit ${machine.gitCommit?.slice(0, 10) ?? '?'}${machine.gitDirty ? ' (+uncommitted changes)' : ''}`,
  );
  const t0 = performance.now();
  let failed = 0;
  for (const b of selected) {
    console.log(`\n## ${b.name}: ${b.describe}`);
    const start = noiseSnapshot();
    console.log(`load average at start: ${start.loadavg.map((x) => x.toFixed(2)).join(' ')}`);
    try {
      const { result, table, verdict } = await b.run(values.quick);
      const noise = noiseReport(start);
      console.log(table);
      if (verdict) console.log(verdict);
      console.log(
        `${noise.wallS} s; this benchmark used ${noise.ownCores ?? '?'} cores, other processes ${noise.foreignCores ?? '?'} cores` +
          (noise.noisy ? ' — NOISY RUN: other processes competed for the CPU; figures are pessimistic' : ''),
      );
      const wrapped: BenchFile = {
        benchmark: b.name,
        describe: b.describe,
        date: new Date().toISOString(),
        machine,
        noise,
        quick: values.quick,
        verdict: verdict ?? null,
        table,
        result,
      };
      const file = b.flat ? { ...(result as object), runner: { ...wrapped, result: undefined } } : wrapped;
      const path = resolve(outDir, `${b.name}.json`);
      writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
      console.log(`wrote ${path}`);
    } catch (err) {
      failed++;
      console.error(`bench ${b.name} failed: ${(err as Error).stack ?? String(err)}`);
    }
  }
  if (outDir === RESULTS_DIR) {
    // The page quotes the committed result files only, in the order of the list above.
    writeFileSync(BENCHMARKS_MD, renderBenchmarks(loadViews(BENCHMARKS.map((b) => b.name))));
    console.log(`rewrote ${BENCHMARKS_MD} from bench/results/`);
  }
  console.log(
    `\n${selected.length} benchmark(s) in ${((performance.now() - t0) / 1000).toFixed(0)} s${failed ? `, ${failed} failed` : ''}`,
  );
  if (failed) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  // `npm run bench -- --list | head` closes stdout early; that is not a failure.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
