import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  createHistogram,
  encodeHistogram,
  histogramStats,
  mergeEncoded,
  percentileSpectrum,
  recordUs,
  PERCENTILE_SPECTRUM,
} from '../harness/histogram.ts';
import { clientIndices, planWrite, type WorkloadConfig } from '../harness/workload.ts';
import { splitClients } from '../harness/client-pool.ts';
import { visibilityOffsets } from '../harness/results.ts';

describe('histogram merge', () => {
  test('merging encoded per-worker histograms equals one histogram of all samples', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: 0, max: 5_000_000, noNaN: true }), { maxLength: 200 }), {
          minLength: 1,
          maxLength: 6,
        }),
        (workers) => {
          const single = createHistogram();
          const encoded = workers.map((samples) => {
            const h = createHistogram();
            for (const s of samples) {
              recordUs(h, s);
              recordUs(single, s);
            }
            return encodeHistogram(h);
          });
          const merged = mergeEncoded(encoded);
          expect(merged.totalCount).toBe(single.totalCount);
          expect(histogramStats(merged)).toEqual(histogramStats(single));
          expect(percentileSpectrum(merged)).toEqual(percentileSpectrum(single));
        },
      ),
      { numRuns: 60 },
    );
  });

  test('values are integer µs, clamped to the trackable range, and the spectrum is monotone', () => {
    const h = createHistogram();
    recordUs(h, 0.4);
    recordUs(h, 1.6);
    recordUs(h, 1e12);
    expect(h.totalCount).toBe(3);
    expect(h.maxValue).toBeGreaterThanOrEqual(59_000_000);
    const spectrum = percentileSpectrum(h);
    expect(spectrum.map((p) => p.percentile)).toEqual([...PERCENTILE_SPECTRUM]);
    const values = spectrum.map((p) => p.latencyUs);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
    expect(histogramStats(createHistogram()).p99).toBe(0);
  });
});

describe('workload', () => {
  const config: WorkloadConfig = { seed: 1234, keys: 100, valueBytes: 16, readback: 0.5, visibility: 0.1 };

  test('same seed, same sequence; another seed, another sequence', () => {
    const a = Array.from({ length: 200 }, (_, i) => planWrite(config, 'measure', i));
    const b = Array.from({ length: 200 }, (_, i) => planWrite(config, 'measure', i));
    const c = Array.from({ length: 200 }, (_, i) => planWrite({ ...config, seed: 1235 }, 'measure', i));
    expect(a).toEqual(b);
    expect(c.map((w) => w.key)).not.toEqual(a.map((w) => w.key));
    expect(a.every((w) => w.value.length === 16)).toBe(true);
    expect(Array.from({ length: 50 }, (_, i) => planWrite(config, 'warmup', i).key)).not.toEqual(
      a.slice(0, 50).map((w) => w.key),
    );
  });

  test('keys are roughly uniform and the sampled fractions hold', () => {
    const n = 20_000;
    const counts = new Map<string, number>();
    let readback = 0;
    let visibility = 0;
    for (let i = 0; i < n; i++) {
      const w = planWrite(config, 'measure', i);
      counts.set(w.key, (counts.get(w.key) ?? 0) + 1);
      if (w.readback) readback++;
      if (w.visibility) visibility++;
    }
    expect(counts.size).toBe(100);
    expect(Math.min(...counts.values())).toBeGreaterThan(120);
    expect(Math.max(...counts.values())).toBeLessThan(290);
    expect(readback / n).toBeGreaterThan(0.47);
    expect(readback / n).toBeLessThan(0.53);
    expect(visibility / n).toBeGreaterThan(0.08);
    expect(visibility / n).toBeLessThan(0.12);
  });

  test('clients partition the write indices, whatever the thread split', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 500 }), (clients, total) => {
        const all = Array.from({ length: clients }, (_, c) => clientIndices(c, clients, total))
          .flat()
          .sort((a, b) => a - b);
        expect(all).toEqual(Array.from({ length: total }, (_, i) => i));
        const threads = Math.max(1, Math.min(clients, 4));
        const groups = splitClients(clients, threads);
        expect(groups.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: clients }, (_, i) => i));
        const sizes = groups.map((g) => g.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
  });

  test('visibility offsets double from 50 µs and end at the maximum', () => {
    expect(visibilityOffsets(1000)).toEqual([0, 50, 100, 200, 400, 800, 1000]);
    expect(visibilityOffsets(800)).toEqual([0, 50, 100, 200, 400, 800]);
  });
});
