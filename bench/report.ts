/**
 * BENCHMARKS.md, rendered from the committed result files (bench/results/<name>.json) and nothing else:
 * every figure on that page comes from a file, beside the command that reproduces it. `npm run bench`
 * re-renders it after a full run; `npx tsx bench/report.ts` re-renders it from the files as they are;
 * a test checks the page is in step with the files.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The part of a result file the page needs (written by bench/run.ts). */
export interface BenchFileView {
  benchmark: string;
  describe?: string;
  date: string;
  quick: boolean;
  machine: { cpuModel: string; cores: number; node: string; gitCommit: string | null; gitDirty?: boolean };
  noise: {
    loadavgAtStart: number[];
    wallS: number;
    ownCores: number | null;
    foreignCores: number | null;
    noisy: boolean;
  };
  /** The table the benchmark printed. */
  table?: string;
  /** One line per target: figure, target, holds or MISSED. */
  verdict: string | null;
}

export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
export const BENCHMARKS_MD = fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url));

const INTRO = `# Benchmarks

Does the harness measure the system rather than itself, and how fast is it? Each section below is
rendered from \`bench/results/<name>.json\` (by \`bench/report.ts\`; do not edit this page by hand) and
names the command that reproduces it. Timing on a shared 2-core machine varies by up to 3× from day
to day, so the CPU figures are ratios to a reference exchange measured in the same run, and each file
records the load average and the CPU that other processes used meanwhile (\`noisy\` above 0.2 cores).

\`\`\`sh
npm run bench                 # every benchmark, then re-renders this page
npm run bench -- <name> ...   # some, by name (--list shows them)
\`\`\``;

/** The view of a result file, for both layouts bench/run.ts writes (wrapped, or flat with a \`runner\` field). */
export function viewOf(json: Record<string, unknown>): BenchFileView {
  const runner = json.runner as Record<string, unknown> | undefined;
  return (runner ? { ...runner, table: runner.table ?? json.table } : json) as unknown as BenchFileView;
}

function section(v: BenchFileView): string {
  const m = v.machine;
  const n = v.noise;
  const commit = m.gitCommit
    ? `\`${m.gitCommit.slice(0, 10)}\`${m.gitDirty ? ' (+uncommitted changes)' : ''}`
    : 'unknown';
  const noise = `load average ${n.loadavgAtStart?.[0]?.toFixed(2) ?? '?'} at start; other processes used ${n.foreignCores ?? '?'} cores${n.noisy ? ' (**noisy run**: figures are pessimistic)' : ''}`;
  return [
    `## ${v.benchmark}`,
    '',
    ...(v.describe ? [`${v.describe}.`, ''] : []),
    `Reproduce: \`npm run bench -- ${v.benchmark}\`. Result file: [bench/results/${v.benchmark}.json](bench/results/${v.benchmark}.json).`,
    `Measured ${v.date.slice(0, 16).replace('T', ' ')} UTC on ${m.cpuModel} × ${m.cores} cores, Node ${m.node}, commit ${commit}; ${n.wallS} s; ${noise}.`,
    ...(v.quick ? ['', '**Quick run** (smaller counts): not representative.'] : []),
    '',
    '```',
    (v.table ?? '(this result file predates stored tables; rerun the benchmark)').trimEnd(),
    '```',
    ...(v.verdict ? ['', `Targets: ${v.verdict}`] : []),
  ].join('\n');
}

export function renderBenchmarks(views: readonly BenchFileView[]): string {
  const glance = views
    .filter((v) => v.verdict)
    .map((v) => `| ${v.benchmark} | ${v.verdict!.replace(/\|/g, '\\|').replace(/\n/g, '; ')} |`);
  const parts = [INTRO];
  if (glance.length > 0)
    parts.push(['## Targets at a glance', '', '| benchmark | figure vs target |', '|---|---|', ...glance].join('\n'));
  for (const v of views) parts.push(section(v));
  return `${parts.join('\n\n')}\n`;
}

/** Every result file, in the order given (others after, by name). */
export function loadViews(order: readonly string[] = [], dir = RESULTS_DIR): BenchFileView[] {
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length));
  const rank = (n: string): number => (order.includes(n) ? order.indexOf(n) : order.length);
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return names.map((n) => viewOf(JSON.parse(readFileSync(`${dir}/${n}.json`, 'utf8')) as Record<string, unknown>));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(BENCHMARKS_MD, renderBenchmarks(loadViews()));
  process.stdout.write(`wrote ${BENCHMARKS_MD}\n`);
}
