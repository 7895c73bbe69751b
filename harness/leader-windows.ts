/**
 * The leader's own write latency per availability window (issue 12), so a gap between what the
 * client lives and what the leader serves is visible in every fault report. The leader's /stats
 * gives a running {count, mean} since the reset before the load; sampling it at every window
 * boundary and differencing count x mean gives the mean of each segment, summed per window.
 * Percentiles cannot be differenced, so the comparison is by mean (the client's mean is beside it).
 */
export interface LeaderSample {
  /** The window that starts at this sample: true while a follower is faulted. */
  faulted: boolean;
  /** writeLatencyUs.count and .mean of the leader's /stats at that moment; null when the call failed. */
  count: number | null;
  meanUs: number | null;
}

export interface LeaderWindowMeans {
  all: number | null;
  fault: number | null;
  normal: number | null;
}

/** Mean leader write latency per window from samples in time order (the last one closes the load). */
export function leaderWindowMeans(samples: readonly LeaderSample[]): LeaderWindowMeans {
  const sum = { fault: 0, normal: 0 };
  const count = { fault: 0, normal: 0 };
  for (let i = 0; i + 1 < samples.length; i++) {
    const a = samples[i]!;
    const b = samples[i + 1]!;
    if (a.count === null || a.meanUs === null || b.count === null || b.meanUs === null) continue;
    const n = b.count - a.count;
    // A reset or a restarted leader would make the difference meaningless: skip that segment.
    if (n <= 0) continue;
    const w = a.faulted ? 'fault' : 'normal';
    sum[w] += b.count * b.meanUs - a.count * a.meanUs;
    count[w] += n;
  }
  const mean = (s: number, n: number): number | null => (n > 0 ? Math.round((s / n) * 10) / 10 : null);
  return {
    all: mean(sum.fault + sum.normal, count.fault + count.normal),
    fault: mean(sum.fault, count.fault),
    normal: mean(sum.normal, count.normal),
  };
}
