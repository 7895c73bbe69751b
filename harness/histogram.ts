/**
 * HDR histograms of integer microseconds. Workers record into plain JS histograms (WASM ones
 * cannot be add()ed to JS ones and must be destroyed), encode them, and the main thread merges.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { HISTOGRAM_SETTINGS } from '../contracts/histogram.ts';

export type { Histogram };

export { HISTOGRAM_SETTINGS };

export function createHistogram(): Histogram {
  return build({ ...HISTOGRAM_SETTINGS, bitBucketSize: 32, useWebAssembly: false });
}

/** Record a duration in µs, rounded to an integer and clamped into the trackable range. */
export function recordUs(histogram: Histogram, us: number): void {
  const v = Math.round(us);
  histogram.recordValue(Math.max(0, Math.min(v, HISTOGRAM_SETTINGS.highestTrackableValue)));
}

export function encodeHistogram(histogram: Histogram): string {
  return encodeIntoCompressedBase64(histogram);
}

export function decodeHistogram(base64: string): Histogram {
  return decodeFromCompressedBase64(base64, 32, false);
}

/** Merge encoded histograms (from workers) into one new histogram. */
export function mergeEncoded(encoded: readonly string[]): Histogram {
  const total = createHistogram();
  for (const e of encoded) total.add(decodeHistogram(e));
  return total;
}

export interface HistogramStats {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Standard deviation, µs. */
  sd: number;
}

/** Summary statistics; zeros (not NaN) for an empty histogram so CSV cells stay numeric. */
export function histogramStats(h: Histogram): HistogramStats {
  if (h.totalCount === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, sd: 0 };
  return {
    count: h.totalCount,
    mean: Math.round(h.mean * 10) / 10,
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    // Not h.maxValue: after add() it is the bucket's top, so merged and single histograms would differ.
    max: h.getValueAtPercentile(100),
    sd: Math.round(h.stdDeviation * 10) / 10,
  };
}

/** Percentiles for CDF plots: dense in the body, then the tail in nines. */
export const PERCENTILE_SPECTRUM: readonly number[] = [
  0, 1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 97.5, 98, 98.5, 99,
  99.5, 99.9, 99.95, 99.99, 99.999, 100,
];

export function percentileSpectrum(h: Histogram): { percentile: number; latencyUs: number }[] {
  if (h.totalCount === 0) return [];
  return PERCENTILE_SPECTRUM.map((p) => ({
    percentile: p,
    latencyUs: h.getValueAtPercentile(p),
  }));
}

/** HdrHistogram's percentile-distribution text (values in µs, as recorded). */
export function hgrmText(h: Histogram): string {
  return h.outputPercentileDistribution(5, 1);
}
