import { describe, expect, it } from 'vitest';
import {
  expectedStaleFollowers,
  fullyVisibleProbability,
  readQuorumStaleProbability,
  staleFraction,
  uniformModelFromMs,
  writeDelayMeanUs,
  writeDelayQuantileUs,
} from '../analysis/model.ts';
import { createSampler, simulateQuorum, sortedQuantile } from '../analysis/montecarlo.ts';
import { createRng } from '../lib/rng.ts';

// Tolerances for 40 000 trials at a fixed seed. Standard errors: mean of d_(W) ≤ 0.7 µs, a
// probability ≤ 0.0025, p50/p99 of d_(W) a few µs; the bounds are about 4 standard errors.
const TRIALS = 40_000;
const MEAN_TOL_US = 3;
const P50_TOL_US = 8;
const P99_TOL_US = 12;
const PROB_TOL = 0.01;

const model = uniformModelFromMs(0.1, 1, 5);
const uniform = { kind: 'uniform', minUs: 100, maxUs: 1000 } as const;

describe('Monte Carlo agrees with the closed forms (uniform delays, zero network legs)', () => {
  for (const w of [1, 2, 3, 4, 5]) {
    it(`W = ${w}`, () => {
      const mc = simulateQuorum({
        writeQuorum: w,
        replicationDelay: uniform,
        readGap: { kind: 'constant', us: 100 },
        visibilityOffsetsUs: [0, 150, 400],
        trials: TRIALS,
        seed: 42 + w,
      });
      expect(Math.abs(mc.latencyMeanUs - writeDelayMeanUs(model, w))).toBeLessThan(MEAN_TOL_US);
      expect(Math.abs(sortedQuantile(mc.latencyUs, 0.5) - writeDelayQuantileUs(model, w, 0.5))).toBeLessThan(
        P50_TOL_US,
      );
      expect(Math.abs(sortedQuantile(mc.latencyUs, 0.99) - writeDelayQuantileUs(model, w, 0.99))).toBeLessThan(
        P99_TOL_US,
      );
      expect(Math.abs(mc.staleFraction - staleFraction(model, w, 100))).toBeLessThan(PROB_TOL);
      expect(Math.abs(mc.expectedStaleFollowers - expectedStaleFollowers(model, w, 100))).toBeLessThan(5 * PROB_TOL);
      for (let r = 1; r <= 5; r++) {
        const predicted = readQuorumStaleProbability(model, w, r, 100);
        expect(Math.abs(mc.readQuorumStale[r - 1]! - predicted), `R = ${r}`).toBeLessThan(PROB_TOL);
        if (w + r > 5) expect(mc.readQuorumStale[r - 1]).toBe(0);
      }
      for (const { offsetUs, probability } of mc.fullyVisible) {
        expect(Math.abs(probability - fullyVisibleProbability(model, w, offsetUs))).toBeLessThan(PROB_TOL);
      }
    });
  }
});

describe('network legs and measured distributions', () => {
  it('a constant request leg shifts latency but not staleness', () => {
    const base = {
      writeQuorum: 2,
      replicationDelay: uniform,
      readGap: { kind: 'constant', us: 50 },
      trials: 5000,
      seed: 7,
    } as const;
    const a = simulateQuorum(base);
    const b = simulateQuorum({ ...base, requestLeg: { kind: 'constant', us: 80 } });
    expect(b.latencyMeanUs - a.latencyMeanUs).toBeCloseTo(80, 6);
    expect(b.staleCountDistribution).toEqual(a.staleCountDistribution);
  });
  it('a constant ack leg s_a matches fullyVisibleProbability(…, ackReturnUs = s_a)', () => {
    const mc = simulateQuorum({
      writeQuorum: 3,
      replicationDelay: uniform,
      ackLeg: { kind: 'constant', us: 60 },
      visibilityOffsetsUs: [100, 300],
      trials: TRIALS,
      seed: 3,
    });
    for (const { offsetUs, probability } of mc.fullyVisible) {
      expect(Math.abs(probability - fullyVisibleProbability(model, 3, offsetUs, 60))).toBeLessThan(PROB_TOL);
    }
  });
  it('measured samples (a fine uniform grid) reproduce the uniform model', () => {
    const grid = Array.from({ length: 901 }, (_, i) => 100 + i);
    const mc = simulateQuorum({
      writeQuorum: 4,
      replicationDelay: { kind: 'samples', samplesUs: grid },
      readGap: { kind: 'constant', us: 100 },
      trials: TRIALS,
      seed: 11,
    });
    expect(Math.abs(mc.latencyMeanUs - writeDelayMeanUs(model, 4))).toBeLessThan(MEAN_TOL_US);
    expect(Math.abs(mc.staleFraction - staleFraction(model, 4, 100))).toBeLessThan(PROB_TOL);
  });
  it('a histogram distribution samples values in proportion to counts', () => {
    const sample = createSampler({ kind: 'histogram', valuesUs: [10, 20, 30], counts: [1, 0, 3] }, createRng(5));
    const seen = new Map<number, number>();
    for (let i = 0; i < 20_000; i++) {
      const v = sample();
      seen.set(v, (seen.get(v) ?? 0) + 1);
    }
    expect(seen.has(20)).toBe(false);
    expect(Math.abs(seen.get(30)! / 20_000 - 0.75)).toBeLessThan(0.02);
  });
  it('is reproducible for a seed', () => {
    const o = { writeQuorum: 3, replicationDelay: uniform, trials: 1000, seed: 99 } as const;
    expect(simulateQuorum(o).latencyMeanUs).toBe(simulateQuorum(o).latencyMeanUs);
  });
  it('rejects bad inputs with QL_ERR_MODEL_INPUT', () => {
    expect(() => simulateQuorum({ writeQuorum: 6, replicationDelay: uniform, seed: 1 })).toThrow(/1\.\.5/);
    expect(() =>
      simulateQuorum({ writeQuorum: 1, replicationDelay: { kind: 'samples', samplesUs: [] }, seed: 1 }),
    ).toThrow(/replicationDelay: no samples/);
    try {
      createSampler({ kind: 'uniform', minUs: 5, maxUs: 1 }, createRng(1), 'ackLeg');
    } catch (e) {
      expect((e as { code: string }).code).toBe('QL_ERR_MODEL_INPUT');
    }
  });
});
