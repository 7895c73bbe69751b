import { describe, expect, test } from 'vitest';
import { headlineLines, slopeCi95, type Headline } from '../analysis/headline.ts';

describe('headline: the measured cost per ack with its interval', () => {
  test('slopeCi95: √(Σ (x − x̄)² h²) / Sxx, by hand', () => {
    const x = [1, 2, 3, 4, 5]; // x̄ = 3, Sxx = 10
    // Equal half-widths of 100: √(10 · 100²) / 10 = 31.62.
    expect(slopeCi95(x.map((v) => ({ x: v, halfWidth: 100 })))).toBeCloseTo(31.623, 3);
    // Weights (x − x̄)² = 4, 1, 0, 1, 4: the middle W adds nothing whatever its half-width.
    const ends = [100, 5000, 0, 5000, 200].map((h, i) => ({ x: i + 1, halfWidth: i === 2 ? 0 : h }));
    expect(slopeCi95(ends)).toBeCloseTo(Math.sqrt(4 * 100 ** 2 + 5000 ** 2 + 5000 ** 2 + 4 * 200 ** 2) / 10, 6);
    expect(slopeCi95([{ x: 1, halfWidth: 10 }])).toBeNull();
    expect(
      slopeCi95([
        { x: 1, halfWidth: 10 },
        { x: 2, halfWidth: null },
      ]),
    ).toBeNull();
  });

  const base: Headline = {
    costPerAckMeasuredUs: 170,
    costPerAckMeasuredCi95Us: 40,
    costPerAckModelUs: 150,
    costPerAckTraceModelUs: null,
    stale: [],
    decompositionError: [],
    traceSkipped: 'no traces',
    traceDisagreements: 0,
  };
  const first = (h: Partial<Headline>): string => headlineLines({ ...base, ...h })[0]!;

  test('the first line says whether the model lies outside, inside, or the interval cannot tell a cost from zero', () => {
    expect(first({})).toContain('170 µs measured (± 40 µs, 95 %, within-step sampling error only');
    expect(first({})).toContain('the model lies inside');
    expect(first({ costPerAckMeasuredUs: 260 })).toContain('the model lies outside');
    // Wide, but 150 is still far outside 300 .. 700: outside, not "too wide".
    expect(first({ costPerAckMeasuredUs: 500, costPerAckMeasuredCi95Us: 200 })).toContain('the model lies outside');
    expect(first({ costPerAckMeasuredUs: -1929, costPerAckMeasuredCi95Us: 2400 })).toContain(
      'too wide to tell a cost from zero',
    );
    // Without the spread (an older run): the figure alone.
    expect(first({ costPerAckMeasuredCi95Us: null })).toMatch(/^Cost per extra ack: 170 µs measured, 150 µs model/);
  });
});
