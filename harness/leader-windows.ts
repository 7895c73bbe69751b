/**
 * The leader's own write latency per availability window (issue 12), so a gap between what the
 * client lives and what the leader serves is visible in every fault report. The leader's /stats
 * gives its running {count, mean} and the HDR histogram of every write latency since the reset
 * before the load. Sampling it at every window boundary and subtracting consecutive histograms gives
 * each segment's own histogram, added up per window: the window's p50 and p99 as well as its mean.
 */
import { createHistogram, decodeHistogram, type Histogram } from './histogram.ts';

export interface LeaderSample {
  /** The window that starts at this sample: true while a follower is faulted. */
  faulted: boolean;
  /** writeLatencyUs.count and .mean of the leader's /stats at that moment; null when the call failed. */
  count: number | null;
  meanUs: number | null;
  /** writeLatencyHdr of that /stats (cumulative since the reset); null when absent (an older or foreign leader). */
  hdr: string | null;
}

/** The leader's write latency over one window, µs; a percentile is null when no histogram was sampled. */
export interface LeaderLatency {
  meanUs: number;
  p50Us: number | null;
  p99Us: number | null;
}

export interface LeaderWindows {
  all: LeaderLatency | null;
  fault: LeaderLatency | null;
  normal: LeaderLatency | null;
}

type WindowKey = 'fault' | 'normal';

interface Accumulator {
  sumUs: number;
  count: number;
  /** Null once a segment of this window lacked a histogram: its percentiles would then be wrong. */
  histogram: Histogram | null;
}

/** Leader write latency per window from samples in time order (the last one closes the load). */
export function leaderWindowLatency(samples: readonly LeaderSample[]): LeaderWindows {
  const acc: Record<WindowKey, Accumulator> = {
    fault: { sumUs: 0, count: 0, histogram: createHistogram() },
    normal: { sumUs: 0, count: 0, histogram: createHistogram() },
  };
  // A count of 0 (the reset before the load) is an empty histogram even without one sampled.
  const decoded = samples.map((s) => (s.hdr ? decodeHistogram(s.hdr) : s.count === 0 ? createHistogram() : null));
  for (let i = 0; i + 1 < samples.length; i++) {
    const [a, b] = [samples[i]!, samples[i + 1]!];
    if (a.count === null || a.meanUs === null || b.count === null || b.meanUs === null) continue;
    const n = b.count - a.count;
    // A reset or a restarted leader would make the difference meaningless: skip that segment.
    if (n <= 0) continue;
    const w = acc[a.faulted ? 'fault' : 'normal'];
    w.sumUs += b.count * b.meanUs - a.count * a.meanUs;
    w.count += n;
    w.histogram = addSegment(w.histogram, decoded[i] ?? null, decoded[i + 1] ?? null);
  }
  return {
    all: latencyOf(merge(acc.fault, acc.normal)),
    fault: latencyOf(acc.fault),
    normal: latencyOf(acc.normal),
  };
}

/**
 * Add (after − before) to the window's histogram; null when either end has no histogram, or when the
 * difference went below zero in some bucket: a leader restarted or reset in between no longer holds the
 * earlier writes, even when it has since served more of them than before.
 */
function addSegment(into: Histogram | null, before: Histogram | null, after: Histogram | null): Histogram | null {
  if (!into || !before || !after) return null;
  const segment = createHistogram();
  segment.add(after);
  segment.subtract(before);
  if (!countsAddUp(segment)) return null;
  into.add(segment);
  return into;
}

/**
 * Our histograms are plain JS ones (createHistogram) with unsigned buckets: a bucket that went below
 * zero wraps to a huge count, so the buckets no longer add up to the histogram's total.
 */
function countsAddUp(h: Histogram): boolean {
  const js = h as unknown as { countsArrayLength: number; getCountAtIndex(i: number): number };
  let sum = 0;
  for (let i = 0; i < js.countsArrayLength; i++) sum += js.getCountAtIndex(i);
  return sum === h.totalCount;
}

function merge(a: Accumulator, b: Accumulator): Accumulator {
  let histogram: Histogram | null = null;
  if (a.histogram && b.histogram) {
    histogram = createHistogram();
    histogram.add(a.histogram);
    histogram.add(b.histogram);
  }
  return { sumUs: a.sumUs + b.sumUs, count: a.count + b.count, histogram };
}

function latencyOf(w: Accumulator): LeaderLatency | null {
  if (w.count <= 0) return null;
  const h = w.histogram && w.histogram.totalCount > 0 ? w.histogram : null;
  return {
    meanUs: Math.round((w.sumUs / w.count) * 10) / 10,
    p50Us: h ? h.getValueAtPercentile(50) : null,
    p99Us: h ? h.getValueAtPercentile(99) : null,
  };
}
