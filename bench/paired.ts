/**
 * Statistics of an alternating-pairs benchmark (bench/trace-cost.ts): blocks with and without a
 * treatment taken in turn on the same processes, in ABBA order so that a linear drift of the machine
 * and the advantage of going first or second cancel. Each pair gives one relative change
 * (treated ÷ base − 1); its mean gets a Student-t 95 % interval over the pairs, and a "change ≤
 * target" goal is judged on that interval, not on the point estimate.
 */

/** Pair i runs the treatment second when i is even, first when odd: A B | B A | A B | B A ... */
export function treatedFirst(pair: number): boolean {
  return pair % 2 === 1;
}

/** Two-sided 95 % quantiles of Student's t (0.975 one-sided), degrees of freedom 1..30. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t(0.975, df): the table up to 30, beyond it the Cornish-Fisher expansion around the normal quantile (error < 0.001). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) {
    throw Object.assign(new RangeError(`degrees of freedom must be a positive integer, got ${df}`), {
      code: 'invalid_degrees_of_freedom',
    });
  }
  if (df <= T975.length) return T975[df - 1]!;
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
}

export interface MeanInterval {
  n: number;
  mean: number;
  median: number;
  /** Sample standard deviation (n − 1); NaN below two values. */
  sd: number;
  /** 95 % interval of the mean (Student t over the values); NaN below two values. */
  low: number;
  high: number;
}

export function medianOf(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function meanInterval95(xs: readonly number[]): MeanInterval {
  const n = xs.length;
  const mean = n === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { n, mean, median: medianOf(xs), sd: NaN, low: NaN, high: NaN };
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = (tQuantile975(n - 1) * sd) / Math.sqrt(n);
  return { n, mean, median: medianOf(xs), sd, low: mean - half, high: mean + half };
}

/** Relative change of each pair: treated ÷ base − 1. */
export function pairShares(pairs: ReadonlyArray<{ base: number; treated: number }>): number[] {
  return pairs.map((p) => p.treated / p.base - 1);
}

export type IntervalVerdict = 'holds' | 'MISSED' | 'not resolved';

/**
 * A goal "change ≤ target" judged on the interval: it holds when even the upper bound is within the
 * target, is missed when even the lower bound exceeds it, and is not resolved otherwise (the noise is
 * larger than the distance to the target; more pairs would tell).
 */
export function judgeAtMost(interval: { low: number; high: number }, target: number): IntervalVerdict {
  if (interval.high <= target) return 'holds';
  if (interval.low > target) return 'MISSED';
  return 'not resolved';
}
