import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareRun, type Comparison } from '../analysis/compare.ts';
import { readRun, type RunData } from '../analysis/read-run.ts';
import { explain, renderHtml, renderMarkdown, slope } from '../analysis/report.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/run-synthetic/', import.meta.url));
let run: RunData;
let cmp: Comparison;

beforeAll(async () => {
  run = await readRun(FIXTURE);
  cmp = compareRun(run, { monteCarloTrials: 2000 });
});

describe('generated explanation', () => {
  it('a healthy run: latency slope near the model, no warnings, converged', () => {
    const text = explain(run, cmp).join('\n');
    expect(text).toMatch(/\+150 µs per extra ack here/);
    expect(text).not.toMatch(/CAUTION|WARNING/);
    expect(text).toMatch(/At W = 5 no follower read was stale/);
    expect(text).toMatch(/converge\? Yes/);
  });
  it('flags a latency trend unlike the model, stale reads at W = N, strict-quorum staleness and divergence', () => {
    const rows = cmp.rows.map((r) => ({ ...r, measured_latency_mean_us: 5000 - 500 * r.quorum }));
    rows[4] = { ...rows[4]!, measured_stale_fraction: 0.01 };
    const readQuorums = cmp.readQuorums.map((q) => (q.quorum === 3 && q.read_quorum === 3 ? { ...q, measured_stale_probability: 0.002 } : q));
    const summary = run.summary.map((s) => (s.quorum === 2 ? { ...s, converged: false, mismatched_keys: 7 } : s));
    const text = explain({ ...run, summary }, { ...cmp, rows, readQuorums }).join('\n');
    expect(text).toMatch(/CAUTION: the measured trend does not follow the model/);
    expect(text).toMatch(/WARNING: at W = 5 1\.000% of follower reads were stale/);
    expect(text).toMatch(/WARNING: reads with W \+ R > N were stale \(W = 3, R = 3: 0\.200%\)/);
    expect(text).toMatch(/converge\? NO for W = 2 \(7 mismatched keys\)/);
  });
  it('slope is least squares', () => {
    expect(slope([1, 2, 3], [1, 3, 5])).toBe(2);
    expect(slope([1], [1])).toBeNaN();
  });
});

describe('renderers', () => {
  const blocks = [
    { kind: 'heading', level: 1, text: 'R <1>' },
    { kind: 'paragraph', text: 'a & b' },
    { kind: 'table', header: ['x|y', 'z'], rows: [[1, 'a|b']] },
    { kind: 'figure', file: 'p.svg', caption: 'plot' },
  ] as const;
  it('markdown escapes table pipes and links figures', () => {
    const md = renderMarkdown(blocks as never);
    expect(md).toContain('| x\\|y | z |\n|---|---|\n| 1 | a\\|b |');
    expect(md).toContain('![plot](p.svg)');
  });
  it('html escapes text and inlines SVGs', () => {
    const html = renderHtml(blocks as never, new Map([['p.svg', '<svg id="p"></svg>']]));
    expect(html).toContain('<h1>R &lt;1&gt;</h1>');
    expect(html).toContain('<p>a &amp; b</p>');
    expect(html).toContain('<figure><svg id="p"></svg>');
  });
});
