/**
 * npm run analyze -- <run folder> [--out <dir>] [--baseline <zero-delay run folder>] [--trials <n>]
 * The only analysis file that prints or sets the exit code. Conventions: lib/cli.ts.
 */
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hideBin } from 'yargs/helpers';
import { cliFail, cliParser } from '../lib/cli.ts';
import { analyzeRun } from './analyze.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where runs are made (untracked); any other folder inside the repository is shipped with it. */
const RUNS_DIR = join(REPO_ROOT, 'data', 'runs');

const USAGE = `$0 <run folder> [--out <dir>] [--baseline <zero-delay run folder>] [--trials <n>]

Reads the run folder's CSVs and meta.json (docs/contracts.md, "Run folder") and writes:
  model.csv, read_quorums.csv, latency_vs_quorum.svg, staleness_vs_quorum.svg, latency_spectrum.svg,
  visibility.svg (with visibility.csv), read_quorums.svg, report.md, report.html
into the run folder, or, for a folder shipped with the repository (test/fixtures/..., data/... other than
data/runs/), into data/runs/analysis-<name>/ unless --out says otherwise.`;

/**
 * The output folder: --out if given; the run folder itself for a run of yours; for a shipped folder
 * (inside the repository, outside data/runs/) an untracked folder, so an analysis never dirties the tree.
 */
function defaultOutDir(runDir: string, out: string | undefined): string {
  if (out !== undefined) return resolve(out);
  const abs = resolve(runDir);
  const inRepo = relative(REPO_ROOT, abs);
  const shipped = !inRepo.startsWith('..') && inRepo !== '' && !(abs + sep).startsWith(RUNS_DIR + sep);
  return shipped ? join(RUNS_DIR, `analysis-${inRepo.split(sep).join('-')}`) : abs;
}

function main(): void {
  const argv = cliParser('analyze', 'npm run analyze --', USAGE, hideBin(process.argv))
    .strict(false)
    .strictOptions(true)
    .option('out', {
      type: 'string',
      describe: 'folder for the outputs (created)',
      defaultDescription: 'the run folder; data/runs/analysis-<name> for a shipped one',
    })
    .option('baseline', {
      type: 'string',
      describe:
        'a run made with --min-delay 0 --max-delay 0; its latency is subtracted as overhead (refused otherwise)',
    })
    .option('trials', {
      type: 'string',
      describe: 'Monte Carlo trials per quorum for the realised-delay model',
      defaultDescription: '20000',
    })
    .parseSync();
  const positionals = argv._.map(String);
  if (positionals.length !== 1) cliFail('analyze', `expected exactly one run folder, got ${positionals.length}`);
  const trials = argv.trials === undefined ? undefined : Number(argv.trials);
  if (trials !== undefined && !(Number.isInteger(trials) && trials > 0))
    cliFail('analyze', `--trials: must be a positive integer, got ${JSON.stringify(argv.trials)}`);
  const dir = positionals[0]!;
  const outDir = defaultOutDir(dir, argv.out);
  if (argv.out === undefined && outDir !== resolve(dir)) {
    process.stdout.write(
      `${dir} is shipped with the repository: outputs go to ${outDir} (--out ${dir} to update it)\n`,
    );
  }
  analyzeRun(dir, { baselineDir: argv.baseline, monteCarloTrials: trials, outDir }).then(
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
}

// `npm run analyze -- dir | head` closes stdout early; that is not a failure of the analysis.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});
main();
