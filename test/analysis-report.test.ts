import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareRun, type Comparison } from '../analysis/compare.ts';
import { readRun, type RunData } from '../analysis/read-run.ts';
import type { AvailabilityRow } from '../analysis/read-run.ts';
import {
  availabilityShape,
  explain,
  fidelity,
  leaderPriorityOf,
  renderHtml,
  renderMarkdown,
  slope,
} from '../analysis/report.ts';

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
    const readQuorums = cmp.readQuorums.map((q) =>
      q.quorum === 3 && q.read_quorum === 3 ? { ...q, measured_stale_probability: 0.002 } : q,
    );
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

describe('fidelity section', () => {
  it('a healthy synthetic run: hand-worked delay figures, lost 0, no CAUTION, priority unknown', () => {
    const f = fidelity(run, cmp);
    const text = f.items.join('\n');
    expect(text).toContain('Load: 4 closed-loop clients');
    expect(text).toContain('on 2 cores');
    expect(text).toContain('Leader priority: unknown');
    expect(text).toContain('p50 18 µs, p99 120 µs across W');
    // realised means 574.3, 575.9, 572.7, 571.9, 579.0 → mean 574.76; target (0.1 + 1)/2 ms = 550 µs.
    expect(text).toMatch(
      /Realised mean delay 575 µs \(57\d–579 µs across W\) vs the target mean \(a \+ b\)\/2 = 550 µs: \+25 µs \(\+4\.5%\)/,
    );
    expect(text).toContain('Lost writes: 0 at every W checked');
    expect(text).toContain('Unknown-outcome writes: 24 (W = 3: 1, W = 4: 3, W = 5: 20)');
    expect(f.caution).toBeNull();
    expect(f.table.kind === 'table' && f.table.rows[0]!.slice(0, 5)).toEqual([1, '18', '120', '574', '550']);
  });
  it('CAUTION when measured − model mean exceeds twice the model mean (queueing), naming --clients 1', () => {
    // W = 1: model 250 µs; 760 − 250 = 510 > 500 → flagged. W = 2: model 400; 1190 − 400 = 790 < 800 → not.
    const rows = cmp.rows
      .map((r) => ({
        ...r,
        measured_latency_mean_us: r.quorum === 1 ? 760 : r.quorum === 2 ? 1190 : r.measured_latency_mean_us,
      }))
      .map((r) => ({ ...r, measured_minus_model_mean_us: r.measured_latency_mean_us - r.model_latency_mean_us }));
    const f = fidelity(run, { ...cmp, rows });
    expect(f.caution).toMatch(
      /^CAUTION: the latency is dominated by queueing, not by the quorum: at W = 1 the measured mean/,
    );
    expect(f.caution).toContain('worst W = 1: 760 µs measured, 250 µs model, 510 µs extra');
    expect(f.caution).toContain('The 4 closed-loop clients saturated the 2 cores');
    expect(f.caution).toContain('`--clients 1` (or a lower `--rate`)');
    expect(f.caution).toContain('model-fit benchmark');
  });
  it('lost writes warn; old summaries without the columns say not recorded', () => {
    const lost = fidelity(
      { ...run, summary: run.summary.map((r) => (r.quorum === 3 ? { ...r, lost_writes: 2 } : r)) },
      cmp,
    ).items.join('\n');
    expect(lost).toContain('WARNING: lost writes: 2 at W = 3');
    const old = fidelity(
      { ...run, summary: run.summary.map((r) => ({ ...r, lost_writes: null, unknown_outcome_writes: null })) },
      cmp,
    ).items.join('\n');
    expect(old).toContain('Lost writes: not recorded');
    expect(old).toContain('Unknown-outcome writes: not recorded');
  });
  it('leader priority from meta.json where recorded', () => {
    expect(leaderPriorityOf({})).toBeNull();
    expect(leaderPriorityOf({ cluster: { leaderPriority: 'auto' } })).toBeNull();
    expect(leaderPriorityOf({ cluster: { leaderPriority: 'realtime' } })).toBe('realtime');
    expect(
      leaderPriorityOf({
        cluster: { perQuorum: { '1': { leaderPriority: 'normal' }, '2': { leaderPriority: 'normal' } } },
      }),
    ).toBe('normal');
    expect(
      leaderPriorityOf({
        cluster: { perQuorum: { '1': { leaderPriority: 'realtime' }, '2': { leaderPriority: 'normal' } } },
      }),
    ).toBe('realtime for W = 1; normal for W = 2');
    // What the harness writes: the requested priority (auto) and the applied one.
    const harness = {
      options: { leaderPriority: 'auto' },
      cluster: {
        perQuorum: {
          '4': { leaderPriority: 'auto', appliedLeaderPriority: 'realtime' },
          '5': { leaderPriority: 'auto', appliedLeaderPriority: 'realtime' },
        },
      },
    };
    expect(leaderPriorityOf(harness)).toBe('realtime');
    expect(leaderPriorityOf({ cluster: { perQuorum: { '4': { leaderPriority: 'auto' } } } })).toBeNull();
    const f = fidelity({ ...run, meta: { ...run.meta, cluster: { leaderPriority: 'realtime' } } }, cmp);
    expect(f.items.join('\n')).toContain('Leader priority: realtime (SCHED_FIFO');
  });
});

describe('availability shape sentence', () => {
  const row = (quorum: number, ok: number, attempted = 100): AvailabilityRow => ({
    line: quorum + 1,
    quorum,
    window: 'fault',
    attempted,
    ok,
    errors_quorum: attempted - ok,
    errors_http: 0,
    errors_timeout: 0,
    errors_connection: 0,
    availability: ok / attempted,
    latency_p50_us: null,
    latency_p99_us: null,
    recovery_ms: null,
  });
  it('two followers killed: a step between W = 3 and W = 4', () => {
    expect(availabilityShape([row(1, 100), row(2, 100), row(3, 99), row(4, 0), row(5, 0)], 5)).toMatch(
      /^Availability falls as a step between W = 3 and W = 4: with 3 of 5 followers live during the fault, W ≤ 3 stayed available \(W = 1: 100\.0%, W = 2: 100\.0%, W = 3: 99\.0%\) and W ≥ 4 failed \(W = 4: 0\.0%, W = 5: 0\.0%\).*fails with 503/,
    );
  });
  it('all available, none available, and a shape that is not a step', () => {
    expect(availabilityShape([row(1, 100), row(2, 100)], 5)).toMatch(
      /^During the faults every W measured stayed available .*at least 2 of 5 followers stayed live/,
    );
    expect(availabilityShape([row(4, 0), row(5, 0)], 5)).toMatch(
      /^During the faults no W measured stayed available .*fewer than 4 of 5 followers were live/,
    );
    expect(availabilityShape([row(3, 100), row(4, 50), row(5, 0)], 5)).toMatch(
      /^Availability during faults does not fall as a clean step with W \(W = 3: 100\.0%, W = 4: 50\.0%, W = 5: 0\.0%\)/,
    );
    expect(availabilityShape([], 5)).toMatch(/No write was sent while a follower was faulted/);
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
