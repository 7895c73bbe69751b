/**
 * The polling window of the precise scheduler: how long before a deadline the helper thread
 * wakes the main thread, which then polls until the deadline.
 *
 * Why adaptive: the window must cover the time from "the helper's alarm is due" to "the main
 * thread runs" (two thread wake-ups and a message), and that time depends on the machine far
 * more than on the code: on the 2-vCPU VM this project runs on, a sleeping thread wakes in
 * ~15–40 µs when the CPUs are kept busy and ~30 µs typically but up to ms when they are idle
 * (the halted vCPU must be rescheduled by the host). So the window follows a high quantile of
 * the recently observed alarm lateness: narrow (little CPU) where wake-ups are reliable, wider
 * where they are not.
 *
 * Why capped (300 µs by default): a wider window means polling through most delays, and when
 * the CPUs are contended (the experiment runs 7 processes on 2 cores) a process that polls
 * continuously was measured to get *less* useful CPU from the kernel — lower throughput and
 * worse tails than with 200–300 µs — besides taking CPU from the followers and clients.
 */

export interface SpinWindowOptions {
  /** Fixed window, µs; when set, nothing adapts. */
  fixedUs?: number;
  /** Bounds of the adaptive window, µs. Defaults 50 and 300. */
  minUs?: number;
  maxUs?: number;
  /** Window before any lateness was observed, µs. Default 200. */
  initialUs?: number;
  /** Quantile of recent lateness the window covers. Default 0.98. */
  quantile?: number;
  /** Added on top of that quantile, µs (the final poll turns are not free). Default 20. */
  marginUs?: number;
  /** Lateness samples remembered (a ring). Default 128. */
  samples?: number;
}

export interface SpinWindow {
  /** Current window, ns (an integer). */
  readonly ns: number;
  /** Record how late (ns, ≥ 0 or negative if early) the main thread saw an alarm. */
  record(latenessNs: number): void;
}

export const SPIN_DEFAULTS = {
  minUs: 50,
  maxUs: 300,
  initialUs: 200,
  quantile: 0.98,
  marginUs: 20,
  samples: 128,
} as const;

// Recomputing the quantile sorts the ring; doing it every 16 samples keeps the cost negligible
// (a 128-element sort per 16 alarms) while still following a change within a few dozen alarms.
const RECOMPUTE_EVERY = 16;

export function createSpinWindow(options: SpinWindowOptions = {}): SpinWindow {
  if (options.fixedUs !== undefined) {
    const ns = Math.round(options.fixedUs * 1000);
    return { ns, record() {} };
  }
  const minNs = Math.round((options.minUs ?? SPIN_DEFAULTS.minUs) * 1000);
  const maxNs = Math.max(minNs, Math.round((options.maxUs ?? SPIN_DEFAULTS.maxUs) * 1000));
  const quantile = options.quantile ?? SPIN_DEFAULTS.quantile;
  const marginNs = Math.round((options.marginUs ?? SPIN_DEFAULTS.marginUs) * 1000);
  const ring = new Float64Array(options.samples ?? SPIN_DEFAULTS.samples);
  const scratch = new Float64Array(ring.length);
  let count = 0;
  let ns = Math.min(maxNs, Math.max(minNs, Math.round((options.initialUs ?? SPIN_DEFAULTS.initialUs) * 1000)));
  return {
    get ns() {
      return ns;
    },
    record(latenessNs) {
      ring[count % ring.length] = latenessNs;
      count++;
      if (count % RECOMPUTE_EVERY !== 0) return;
      const n = Math.min(count, ring.length);
      const view = scratch.subarray(0, n);
      view.set(ring.subarray(0, n));
      view.sort();
      const q = view[Math.min(n - 1, Math.ceil(quantile * n) - 1)]!;
      ns = Math.min(maxNs, Math.max(minNs, Math.round(q + marginNs)));
    },
  };
}
