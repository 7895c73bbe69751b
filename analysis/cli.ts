/**
 * npm run analyze -- <run folder> [--baseline <zero-delay run folder>] [--trials <n>]
 * The only analysis file that prints or sets the exit code.
 */
import { parseArgs } from 'node:util';
import { analyzeRun } from './analyze.ts';

const USAGE = `usage: npm run analyze -- <run folder> [--baseline <zero-delay run folder>] [--trials <n>]

Reads the run folder's CSVs and meta.json (docs/contracts.md, "Run folder") and writes into it:
  model.csv, read_quorums.csv, latency_vs_quorum.svg, staleness_vs_quorum.svg, latency_spectrum.svg,
  visibility.svg (with visibility.csv), read_quorums.svg, report.md, report.html

  --baseline  a run made with --min-delay 0 --max-delay 0; its latency is subtracted as overhead (refused otherwise)
  --trials    Monte Carlo trials per quorum for the realised-delay model (default 20000)`;

function main(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { baseline: { type: 'string' }, trials: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    console.error(`expected exactly one run folder, got ${parsed.positionals.length}\n\n${USAGE}`);
    return 2;
  }
  const trials = parsed.values.trials === undefined ? undefined : Number(parsed.values.trials);
  if (trials !== undefined && !(Number.isInteger(trials) && trials > 0)) {
    console.error(`--trials must be a positive integer, got ${JSON.stringify(parsed.values.trials)}`);
    return 2;
  }
  const dir = parsed.positionals[0]!;
  analyzeRun(dir, { baselineDir: parsed.values.baseline, monteCarloTrials: trials }).then(
    (result) => {
      const p = (x: number | null): string => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);
      const lines = [
        `analysed ${dir} in ${result.elapsedMs.toFixed(0)} ms`,
        '  W  model mean µs  measured mean µs  model stale  measured stale',
        ...result.comparison.rows.map(
          (r) =>
            `  ${r.quorum}  ${r.model_latency_mean_us.toFixed(0).padStart(13)}  ${r.measured_latency_mean_us.toFixed(0).padStart(16)}  ${p(r.model_stale_fraction).padStart(11)}  ${p(r.measured_stale_fraction).padStart(14)}`,
        ),
        ...result.files.map((f) => `  wrote ${f}`),
      ];
      console.log(lines.join('\n'));
    },
    (err: unknown) => {
      const e = err as Error & { code?: string };
      console.error(`analyze: ${e.code ? `[${e.code}] ` : ''}${e.message}`);
      process.exitCode = 1;
    },
  );
  return 0;
}

// `npm run analyze -- dir | head` closes stdout early; that is not a failure of the analysis.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});
process.exitCode = main(process.argv.slice(2));
