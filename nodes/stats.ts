/**
 * Small latency summaries for /stats: an HDR histogram (µs, 3 significant digits) plus an exact
 * running sum so the mean is not quantised.
 */
import * as hdr from 'hdr-histogram-js';

import { HISTOGRAM_SETTINGS } from '../contracts/histogram.ts';
import type { SummaryJson } from '../contracts/stats.ts';

export type { SummaryJson };

export interface LatencySummary {
  /** Record one value in µs (negative values count as 0 in the histogram, exactly in the mean). */
  record(us: number): void;
  reset(): void;
  toJSON(): SummaryJson;
  /** hdr-histogram-js compressed base64 of the recorded values. */
  encode(): string;
}

/** 60 s in µs: the largest value a histogram tracks; larger values are clamped. */
export const HIGHEST_TRACKABLE_US = HISTOGRAM_SETTINGS.highestTrackableValue;

export function createLatencySummary(): LatencySummary {
  const h = hdr.build({ ...HISTOGRAM_SETTINGS });
  let count = 0;
  let sum = 0;
  let max = -Infinity;
  return {
    record(us) {
      count++;
      sum += us;
      if (us > max) max = us;
      const v = us <= 0 ? 0 : us >= HIGHEST_TRACKABLE_US ? HIGHEST_TRACKABLE_US : Math.round(us);
      h.recordValue(v);
    },
    reset() {
      count = 0;
      sum = 0;
      max = -Infinity;
      h.reset();
    },
    toJSON() {
      if (count === 0) return { count: 0, mean: 0, p50: 0, p99: 0, max: 0 };
      // Percentiles are bucket upper bounds; never report one above the exact maximum.
      const top = round3(max);
      return {
        count,
        mean: round3(sum / count),
        p50: Math.min(h.getValueAtPercentile(50), top),
        p99: Math.min(h.getValueAtPercentile(99), top),
        max: top,
      };
    },
    encode() {
      return hdr.encodeIntoCompressedBase64(h);
    },
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
