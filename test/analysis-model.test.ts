import { describe, expect, it } from 'vitest';
import {
  ModelError,
  binomialAtLeast,
  choose,
  expectedStaleFollowers,
  fullyVisibleProbability,
  readQuorumStaleFromCounts,
  readQuorumStaleProbability,
  staleFollowersDistribution,
  staleFraction,
  uniformModelFromMs,
  writeDelayCdf,
  writeDelayMeanUs,
  writeDelayQuantileUs,
} from '../analysis/model.ts';

// Reference values for a = 0.1 ms, b = 1 ms, N = 5 (issue 4 and the research notes), W = 1..5.
const model = uniformModelFromMs(0.1, 1, 5);
const W = [1, 2, 3, 4, 5];
// The references are printed to 4 decimals (some truncated rather than rounded).
const TOL4 = 1.5e-4;

function close(actual: number[], expected: number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!), `index ${i}: ${a} vs ${expected[i]}`).toBeLessThan(tol));
}

describe('write delay d_(W)', () => {
  it('mean a + (b − a)·W/(N + 1)', () => {
    close(
      W.map((w) => writeDelayMeanUs(model, w) / 1000),
      [0.25, 0.4, 0.55, 0.7, 0.85],
      1e-12,
    );
  });
  it('p50 and p99 by inverting P(Binomial(N, x) ≥ W)', () => {
    close(
      W.map((w) => writeDelayQuantileUs(model, w, 0.5) / 1000),
      [0.2165, 0.3824, 0.55, 0.7176, 0.8835],
      TOL4,
    );
    close(
      W.map((w) => writeDelayQuantileUs(model, w, 0.99) / 1000),
      [0.6417, 0.8001, 0.9049, 0.9706, 0.9982],
      TOL4,
    );
  });
  it('p99 of W = 1 in closed form: a + (b − a)(1 − 0.01^(1/5))', () => {
    expect(writeDelayQuantileUs(model, 1, 0.99)).toBeCloseTo(100 + 900 * (1 - 0.01 ** 0.2), 6);
  });
  it('CDF is the inverse of the quantile and clamps outside [a, b]', () => {
    expect(writeDelayCdf(model, 3, writeDelayQuantileUs(model, 3, 0.9))).toBeCloseTo(0.9, 9);
    expect(writeDelayCdf(model, 3, 50)).toBe(0);
    expect(writeDelayCdf(model, 3, 1000)).toBe(1);
  });
});

describe('staleness at gap g', () => {
  it('stale fraction at g = 0 is (N − W)/N', () => {
    close(
      W.map((w) => staleFraction(model, w, 0)),
      [0.8, 0.6, 0.4, 0.2, 0],
      1e-12,
    );
  });
  it('stale fraction at g = 50, 100, 200 µs', () => {
    close(
      W.map((w) => staleFraction(model, w, 50)),
      [0.7444, 0.5444, 0.3448, 0.1503, 0],
      TOL4,
    );
    close(
      W.map((w) => staleFraction(model, w, 100)),
      [0.6889, 0.489, 0.2913, 0.111, 0],
      TOL4,
    );
    close(
      W.map((w) => staleFraction(model, w, 200)),
      [0.5779, 0.3799, 0.1952, 0.0569, 0],
      TOL4,
    );
  });
  it('expected stale followers at g = 100 µs', () => {
    close(
      W.map((w) => expectedStaleFollowers(model, w, 100)),
      [3.445, 2.445, 1.457, 0.555, 0],
      6e-4,
    );
  });
  it('W = 4, g = 100 µs by hand: one candidate, stale iff d_(5) − d_(4) > g: (1 − 1/9)^5', () => {
    expect(expectedStaleFollowers(model, 4, 100)).toBeCloseTo((8 / 9) ** 5, 12);
  });
  it('nobody is stale once g ≥ b − a', () => {
    expect(expectedStaleFollowers(model, 1, 900)).toBe(0);
    expect(staleFollowersDistribution(model, 1, 2000)).toEqual([1, 0, 0, 0, 0, 0]);
  });
  it('stale-count distribution sums to 1, has mean E[K] and K ≤ N − W', () => {
    for (const w of W) {
      const dist = staleFollowersDistribution(model, w, 100);
      expect(dist.reduce((s, p) => s + p, 0)).toBeCloseTo(1, 12);
      expect(dist.reduce((s, p, k) => s + k * p, 0)).toBeCloseTo(expectedStaleFollowers(model, w, 100), 12);
      for (let k = 5 - w + 1; k <= 5; k++) expect(dist[k]).toBe(0);
    }
  });
  it('W = 1, g = 100 µs by hand: P(K = 4) = P(Bin(5, 1/9) = 0), P(K = 3) = P(Bin = 1)', () => {
    const dist = staleFollowersDistribution(model, 1, 100);
    expect(dist[4]).toBeCloseTo((8 / 9) ** 5, 12);
    expect(dist[3]).toBeCloseTo(5 * (1 / 9) * (8 / 9) ** 4, 12);
  });
  it('a zero-width delay range has no stale follower', () => {
    const flat = uniformModelFromMs(0.5, 0.5);
    expect(staleFraction(flat, 1, 0)).toBe(0);
    expect(writeDelayQuantileUs(flat, 2, 0.99)).toBe(500);
  });
});

describe('visibility after the ack', () => {
  it('P(Binomial(N, h_t) ≥ N − W)', () => {
    // W = 4, t = 90 µs: h = 0.1, all visible iff the slowest gap ≤ h: 1 − 0.9^5.
    expect(fullyVisibleProbability(model, 4, 90)).toBeCloseTo(1 - 0.9 ** 5, 12);
    expect(fullyVisibleProbability(model, 5, 0)).toBe(1);
    expect(fullyVisibleProbability(model, 1, 0)).toBe(0);
    expect(fullyVisibleProbability(model, 1, 900)).toBe(1);
    // The ack's return leg s_a shifts the curve left.
    expect(fullyVisibleProbability(model, 3, 50, 40)).toBeCloseTo(fullyVisibleProbability(model, 3, 90), 12);
  });
});

describe('read quorums', () => {
  it('measured: P_R = Σ P(k)·C(k, R)/C(N, R) from counts', () => {
    // 10 writes with 0 stale, 6 with 2 stale, 4 with 4 stale.
    const counts = [10, 0, 6, 0, 4, 0];
    expect(readQuorumStaleFromCounts(counts, 5, 1)).toBeCloseTo(((6 * 2) / 5 + (4 * 4) / 5) / 20, 12);
    expect(readQuorumStaleFromCounts(counts, 5, 2)).toBeCloseTo(((6 * 1) / 10 + (4 * 6) / 10) / 20, 12);
    expect(readQuorumStaleFromCounts(counts, 5, 4)).toBeCloseTo((4 * 1) / 5 / 20, 12);
    expect(readQuorumStaleFromCounts(counts, 5, 5)).toBe(0);
  });
  it('predicted P_1 equals the stale fraction; W + R > N gives 0', () => {
    for (const w of W)
      expect(readQuorumStaleProbability(model, w, 1, 100)).toBeCloseTo(staleFraction(model, w, 100), 12);
    expect(readQuorumStaleProbability(model, 3, 3, 0)).toBe(0);
    expect(readQuorumStaleProbability(model, 1, 5, 0)).toBe(0);
  });
  it('predicted at g = 0: the N − W stale followers are fixed, P_R = C(N−W, R)/C(N, R)', () => {
    expect(readQuorumStaleProbability(model, 1, 2, 0)).toBeCloseTo(choose(4, 2) / choose(5, 2), 12);
    expect(readQuorumStaleProbability(model, 2, 3, 0)).toBeCloseTo(1 / 10, 12);
  });
  it('W = 1, R = 2, g = 100 µs by hand', () => {
    const h = 1 / 9;
    const p4 = (1 - h) ** 5;
    const p3 = 5 * h * (1 - h) ** 4;
    const p2 = 10 * h ** 2 * (1 - h) ** 3;
    expect(readQuorumStaleProbability(model, 1, 2, 100)).toBeCloseTo((p4 * 6 + p3 * 3 + p2 * 1) / 10, 12);
  });
});

describe('input errors', () => {
  it('throw ModelError with a stable code', () => {
    expect(() => writeDelayMeanUs(model, 6)).toThrow(ModelError);
    expect(() => staleFraction(model, 0, 10)).toThrow(/write quorum W/);
    expect(() => staleFraction(model, 1, -1)).toThrow(/gapUs/);
    expect(() => uniformModelFromMs(1, 0.1)).toThrow(/minDelayUs ≤ maxDelayUs/);
    expect(() => readQuorumStaleFromCounts([0, 0], 5, 1)).toThrow(/empty/);
    try {
      writeDelayQuantileUs(model, 1, 2);
    } catch (e) {
      expect((e as ModelError).code).toBe('QL_ERR_MODEL_INPUT');
    }
  });
  it('binomial tail edge cases', () => {
    expect(binomialAtLeast(5, 0.3, 0)).toBe(1);
    expect(binomialAtLeast(5, 0, 1)).toBe(0);
    expect(binomialAtLeast(5, 1, 5)).toBe(1);
  });
});
