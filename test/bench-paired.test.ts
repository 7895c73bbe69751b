/** Statistics of the alternating-pairs benchmarks (bench/paired.ts). */
import { describe, expect, test } from 'vitest';
import { judgeAtMost, meanInterval95, medianOf, pairShares, tQuantile975, treatedFirst } from '../bench/paired.ts';

describe('paired statistics', () => {
  test('ABBA order: the treatment goes second, first, second, first ...', () => {
    expect([0, 1, 2, 3].map(treatedFirst)).toEqual([false, true, false, true]);
  });

  test("Student's t quantile: the table, the expansion beyond it, and a refusal of df < 1", () => {
    expect(tQuantile975(1)).toBe(12.706);
    expect(tQuantile975(19)).toBe(2.093);
    expect(tQuantile975(30)).toBe(2.042);
    // Tabulated values: 40 → 2.021, 120 → 1.980; the normal quantile in the limit.
    expect(tQuantile975(40)).toBeCloseTo(2.021, 3);
    expect(tQuantile975(120)).toBeCloseTo(1.98, 3);
    expect(tQuantile975(1e9)).toBeCloseTo(1.96, 3);
    expect(() => tQuantile975(0)).toThrow(expect.objectContaining({ code: 'invalid_degrees_of_freedom' }));
  });

  test('mean interval: a hand-computed case, and no interval below two values', () => {
    // mean 0.02, sd 0.01 (values 0.01, 0.02, 0.03), half-width t(2) × 0.01 / √3
    const r = meanInterval95([0.03, 0.01, 0.02]);
    expect(r.n).toBe(3);
    expect(r.mean).toBeCloseTo(0.02, 12);
    expect(r.median).toBeCloseTo(0.02, 12);
    expect(r.sd).toBeCloseTo(0.01, 12);
    const half = (4.303 * 0.01) / Math.sqrt(3);
    expect(r.low).toBeCloseTo(0.02 - half, 12);
    expect(r.high).toBeCloseTo(0.02 + half, 12);
    const one = meanInterval95([0.5]);
    expect([one.mean, one.median]).toEqual([0.5, 0.5]);
    expect([one.sd, one.low, one.high].every(Number.isNaN)).toBe(true);
  });

  test('median of an even count is the midpoint; of none, NaN', () => {
    expect(medianOf([4, 1, 3, 2])).toBe(2.5);
    expect(medianOf([])).toBeNaN();
  });

  test('pair shares are treated ÷ base − 1', () => {
    expect(
      pairShares([
        { base: 100, treated: 105 },
        { base: 200, treated: 190 },
      ]),
    ).toEqual([expect.closeTo(0.05, 12), expect.closeTo(-0.05, 12)]);
  });

  test('a goal "≤ target" judged on the interval: holds, MISSED, not resolved (also with an open interval)', () => {
    expect(judgeAtMost({ low: -0.01, high: 0.05 }, 0.05)).toBe('holds');
    expect(judgeAtMost({ low: 0.051, high: 0.2 }, 0.05)).toBe('MISSED');
    expect(judgeAtMost({ low: 0.01, high: 0.06 }, 0.05)).toBe('not resolved');
    expect(judgeAtMost({ low: NaN, high: NaN }, 0.05)).toBe('not resolved');
  });
});
