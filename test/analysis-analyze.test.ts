import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeRun, MODEL_COLUMNS, type AnalyzeResult } from '../analysis/analyze.ts';
import { parseCsv, RunDataError } from '../analysis/read-run.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/run-synthetic', import.meta.url));
const CLI = fileURLToPath(new URL('../analysis/cli.ts', import.meta.url));
const REPO = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
// lib/ts-run.ts's TSX_IMPORT_ARGS uses import.meta.resolve, which vitest's module runner lacks;
// a bare 'tsx' resolves from the repository root instead.
const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: REPO });

/** Well-formedness: balanced tags, quoted attributes, no stray '<' or bare '&' in text. */
function assertWellFormedXml(xml: string, name: string): void {
  const stack: string[] = [];
  const token =
    /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/g;
  let last = 0;
  const checkText = (text: string): void => {
    if (text.includes('<')) throw new Error(`${name}: malformed markup near ${JSON.stringify(text.slice(0, 60))}`);
    const amp = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.exec(text);
    if (amp) throw new Error(`${name}: bare & near ${JSON.stringify(text.slice(amp.index, amp.index + 20))}`);
  };
  for (const m of xml.matchAll(token)) {
    checkText(xml.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] === undefined) continue;
    if (m[1]) {
      const open = stack.pop();
      if (open !== m[2]) throw new Error(`${name}: </${m[2]}> closes <${open}>`);
    } else if (!m[4]) stack.push(m[2]);
  }
  checkText(xml.slice(last));
  if (stack.length > 0) throw new Error(`${name}: unclosed <${stack.join('>, <')}>`);
}

async function copyFixture(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ql-analyze-'));
  await cp(FIXTURE, dir, { recursive: true });
  return dir;
}

describe('analyzeRun on the synthetic run', () => {
  let dir: string;
  let result: AnalyzeResult;
  beforeAll(async () => {
    dir = await copyFixture();
    result = await analyzeRun(dir, { monteCarloTrials: 5000 });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes every file', () => {
    const names = result.files.map((f) => f.slice(dir.length + 1)).sort();
    expect(names).toEqual(
      [
        'analysis.json',
        'availability_vs_quorum.svg',
        'latency_spectrum.svg',
        'latency_vs_quorum.svg',
        'model.csv',
        'read_quorums.csv',
        'read_quorums.svg',
        'report.html',
        'report.md',
        'staleness_vs_quorum.svg',
        'visibility.svg',
      ].sort(),
    );
    expect(result.elapsedMs).toBeLessThan(10_000);
  });

  it('SVGs are well-formed XML with the expected series and axis titles', async () => {
    const expected: Record<string, string[]> = {
      'latency_vs_quorum.svg': [
        'measured',
        'model: uniform delays',
        'model: realised delays',
        'mean',
        'p50',
        'p99',
        'write latency (µs)',
        'write quorum W',
      ],
      'staleness_vs_quorum.svg': [
        'measured',
        'model at the measured read gap',
        'model: realised delays, same g',
        'model at the ack (g = 0)',
        'stale reads (fraction of follower reads)',
      ],
      'latency_spectrum.svg': ['W = 1', 'W = 5', 'measured', 'model: uniform delays', '99.9%', 'write latency (µs)'],
      'visibility.svg': ['W = 3', 'measured', 'model: uniform delays', 'time after the ack, t (µs)'],
      'read_quorums.svg': ['read quorum R (followers read)', 'W = 2', 'measured'],
      'availability_vs_quorum.svg': [
        'fault: writes sent while a follower was faulted',
        'normal: writes sent with every follower up',
        'all measured writes',
        'availability (% of attempted writes ok)',
        'write quorum W (follower acks awaited)',
        'window',
      ],
    };
    for (const [file, series] of Object.entries(expected)) {
      const svg = await readFile(join(dir, file), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      assertWellFormedXml(svg, file);
      const text = svg.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>');
      for (const s of series) expect(text, `${file} should mention ${s}`).toContain(s);
    }
  });

  it('model.csv has the documented columns and the closed-form predictions', async () => {
    const records = parseCsv(await readFile(join(dir, 'model.csv'), 'utf8'), 'model.csv');
    expect(records[0]!.fields).toEqual([...MODEL_COLUMNS]);
    const col = (name: string): string[] =>
      records.slice(1).map((r) => r.fields[MODEL_COLUMNS.indexOf(name as never)]!);
    expect(col('model_latency_mean_us').map(Number)).toEqual([250, 400, 550, 700, 850]);
    expect(col('model_latency_p99_us').map(Number)).toEqual([641.7, 800.1, 904.9, 970.6, 998.2]);
    expect(col('model_stale_fraction_at_ack').map(Number)).toEqual([0.8, 0.6, 0.4, 0.2, 0]);
    expect(col('baseline_overhead_mean_us')).toEqual(['', '', '', '', '']);
    expect(col('converged')).toEqual(['true', 'true', 'true', 'true', 'true']);
    // The fixture's staleness was simulated from the same model, so measured sits near predicted.
    const model = col('model_stale_fraction').map(Number);
    const realised = col('model_realised_stale_fraction').map(Number);
    col('measured_stale_fraction')
      .map(Number)
      .forEach((m, i) => {
        expect(Math.abs(m - model[i]!)).toBeLessThan(0.06);
        expect(Math.abs(m - realised[i]!)).toBeLessThan(0.06);
      });
  });

  it('read_quorums.csv is 0 for W + R > N, measured and model', async () => {
    const rows = parseCsv(await readFile(join(dir, 'read_quorums.csv'), 'utf8'), 'read_quorums.csv').slice(1);
    expect(rows).toHaveLength(25);
    for (const { fields } of rows) {
      const [w, r, strict, model, realised, measured] = fields;
      expect(strict).toBe(Number(w) + Number(r) > 5 ? 'true' : 'false');
      if (strict === 'true') expect([Number(model), Number(realised), Number(measured)]).toEqual([0, 0, 0]);
      else expect(Number(realised)).toBeGreaterThanOrEqual(0);
    }
  });

  it('report.md embeds the plots and explains the results; report.html inlines the SVGs', async () => {
    const md = await readFile(join(dir, 'report.md'), 'utf8');
    for (const f of [
      'latency_vs_quorum.svg',
      'staleness_vs_quorum.svg',
      'latency_spectrum.svg',
      'visibility.svg',
      'read_quorums.svg',
    ])
      expect(md).toContain(`](${f})`);
    expect(md).toMatch(/Why latency grows with W: .*W-th fastest of 5/);
    expect(md).toMatch(/\+150 µs per extra ack/);
    expect(md).toMatch(/Why replicas are stale right after an ack for W < 5/);
    expect(md).toMatch(/Did the replicas converge\? Yes/);
    expect(md).toMatch(/How far the measurement sits from the model/);
    expect(md).toContain('| W | writes ok |');
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    expect(md).toContain('## How the run was produced (fidelity)');
    expect(md).toContain('Leader priority: unknown');
    expect(md).toContain('## Availability under faults (availability.csv)');
    expect(md).toMatch(/Availability falls as a step between W = 4 and W = 5: with 4 of 5 followers live/);
    // p50 and p99 are "client / leader" since 61a069b; W=5 had no successful write during the faults.
    expect(md).toContain('| 5 | – | 9,400 | 0 | 0.0% | – | 100.0% | 9,380 / 0 / 20 / 0 | – / – | – / – | – | 58 |');
    expect(md.match(/\]\(availability_vs_quorum\.svg\)/g)).toHaveLength(1);
    expect(html.match(/<svg /g)).toHaveLength(6);
    expect(html).toContain('<table>');
  });
});

describe('analyzeRun variants and errors', () => {
  it('without visibility.csv there is no visibility plot; a baseline run fills the baseline columns', async () => {
    const dir = await copyFixture();
    const base = await copyFixture();
    try {
      await unlink(join(dir, 'visibility.csv'));
      const summary = await readFile(join(base, 'summary.csv'), 'utf8');
      const lines = summary.trimEnd().split('\n');
      const header = lines[0]!.split(',');
      const mean = header.indexOf('latency_mean_us');
      const delays = [header.indexOf('min_delay_ms'), header.indexOf('max_delay_ms')];
      const rewrite = (zeroDelays: boolean): string =>
        `${[
          lines[0],
          ...lines.slice(1).map((l) =>
            l
              .split(',')
              .map((c, i) => (i === mean ? '230' : zeroDelays && delays.includes(i) ? '0' : c))
              .join(','),
          ),
        ].join('\n')}\n`;
      // A baseline with injected delays would subtract part of what it is meant to isolate: refused.
      await writeFile(join(base, 'summary.csv'), rewrite(false));
      await expect(analyzeRun(dir, { monteCarloTrials: 2000, baselineDir: base })).rejects.toMatchObject({
        code: 'QL_ERR_BASELINE_DELAYS',
        message: expect.stringMatching(/is not a zero-delay run \(W=1 [\d.]+\.\.[\d.]+ ms/),
      });
      await writeFile(join(base, 'summary.csv'), rewrite(true));
      const result = await analyzeRun(dir, { monteCarloTrials: 2000, baselineDir: base });
      expect(result.files.some((f) => f.endsWith('visibility.svg'))).toBe(false);
      expect(await readFile(join(dir, 'report.md'), 'utf8')).not.toContain('visibility.svg');
      const row = result.comparison.rows[0]!;
      expect(row.baseline_overhead_mean_us).toBe(230);
      expect(row.measured_minus_baseline_mean_us).toBeCloseTo(row.measured_latency_mean_us - 230, 6);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(base, { recursive: true, force: true });
    }
  });

  it('availability.csv: absent or without fault rows gives no plot and no section; malformed gives a coded error naming the file', async () => {
    const dir = await copyFixture();
    try {
      await unlink(join(dir, 'availability.csv'));
      let result = await analyzeRun(dir, { monteCarloTrials: 1000 });
      expect(result.files.some((f) => f.endsWith('availability_vs_quorum.svg'))).toBe(false);
      expect(await readFile(join(dir, 'report.md'), 'utf8')).not.toContain('Availability under faults');

      const original = await readFile(join(FIXTURE, 'availability.csv'), 'utf8');
      const allOnly = original
        .split('\n')
        .filter((l, i) => i === 0 || l.includes(',all,'))
        .join('\n');
      await writeFile(join(dir, 'availability.csv'), `${allOnly}\n`);
      await rm(join(dir, 'availability_vs_quorum.svg'), { force: true });
      result = await analyzeRun(dir, { monteCarloTrials: 1000 });
      expect(result.files.some((f) => f.endsWith('availability_vs_quorum.svg'))).toBe(false);
      expect(await readFile(join(dir, 'report.md'), 'utf8')).not.toContain('Availability under faults');

      const bad: [string, string, string][] = [
        [
          original.replace('5,fault,9400,0,', '5,fault,9400,lots,'),
          'availability.csv line 15, column ok: expected an integer (got "lots")',
          'QL_ERR_RUN_BAD_VALUE',
        ],
        [
          original.replace('5,fault,', '5,faulty,'),
          'availability.csv line 15, column window: expected one of all, fault, normal, got "faulty"',
          'QL_ERR_RUN_BAD_VALUE',
        ],
        [
          original.replace('4,fault,1000,997,', '4,fault,1000,1997,'),
          'availability.csv line 12, column ok: 1997 ok writes out of 1000 attempted',
          'QL_ERR_RUN_BAD_VALUE',
        ],
        [
          original.replace(',0.997,', ',0.5,'),
          'availability.csv line 12, column availability: 0.5 is not ok/attempted = 997/1000',
          'QL_ERR_RUN_BAD_VALUE',
        ],
        [
          original.replace(',recovery_ms', ''),
          'availability.csv: missing column recovery_ms',
          'QL_ERR_RUN_MISSING_COLUMN',
        ],
        [
          original.replace('1,all,2000,2000,0,0,0,0,1,477', '1,all,2000,2000,0,0,0,0,1'),
          'availability.csv line 2: 11 fields, the header has 12',
          'QL_ERR_RUN_CSV_SYNTAX',
        ],
      ];
      for (const [text, message, code] of bad) {
        await writeFile(join(dir, 'availability.csv'), text);
        const err = await analyzeRun(dir, { monteCarloTrials: 1000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RunDataError);
        expect(err).toMatchObject({ code, file: 'availability.csv' });
        expect((err as Error).message.startsWith(message), (err as Error).message).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a missing or malformed CSV rejects with an error naming the file', async () => {
    const dir = await copyFixture();
    try {
      await unlink(join(dir, 'staleness.csv'));
      await expect(analyzeRun(dir)).rejects.toMatchObject({ code: 'QL_ERR_RUN_MISSING_FILE', file: 'staleness.csv' });
      await cp(FIXTURE, dir, { recursive: true });
      await writeFile(join(dir, 'stale_counts.csv'), 'quorum,stale_followers,writes\n1,0,many\n');
      const err = await analyzeRun(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunDataError);
      expect((err as Error).message).toBe('stale_counts.csv line 2, column writes: expected an integer (got "many")');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the CLI prints the coded error and exits 1; usage errors exit 2', async () => {
    const missing = join(tmpdir(), 'ql-no-such-run');
    const bad = await cli([missing]).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).toBe(1);
    expect((bad as { stderr: string }).stderr).toContain(`analyze: [QL_ERR_RUN_DIR] ${missing}: not a run folder`);
    const usage = await cli([]).catch((e: { code: number; stderr: string }) => e);
    expect((usage as { code: number }).code).toBe(2);
    expect((usage as { stderr: string }).stderr.trim()).toBe(
      'analyze: expected exactly one run folder, got 0 (see --help)',
    );
    const flag = await cli([missing, '--bogus']).catch((e: { code: number; stderr: string }) => e);
    expect([(flag as { code: number }).code, (flag as { stderr: string }).stderr.trim()]).toEqual([
      2,
      'analyze: Unknown argument: bogus (see --help)',
    ]);
    const help = await cli(['-h']);
    expect(help.stdout).toContain('npm run analyze -- <run folder>');
  });

  it('a folder shipped with the repository is analysed into data/runs/analysis-<name>, not in place', async () => {
    const shipped = relative(REPO, FIXTURE);
    const out = join(REPO, 'data', 'runs', `analysis-${shipped.split(sep).join('-')}`);
    const before = (await readdir(FIXTURE)).sort();
    await rm(out, { recursive: true, force: true });
    try {
      const { stdout } = await cli([shipped, '--trials', '200']);
      expect(stdout).toContain(`outputs go to ${out}`);
      expect((await readdir(FIXTURE)).sort()).toEqual(before);
      expect(await readdir(out)).toContain('report.md');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
