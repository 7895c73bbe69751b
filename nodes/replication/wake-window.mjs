// How long before a deadline the alarm thread wakes the replication thread, which then blocks
// (Atomics.wait, no spinning) for the rest. It must cover the alarm's hop (two thread wake-ups),
// which depends on the machine and its load far more than on the code: ~15–40 µs on a busy
// 2-vCPU VM at real-time priority, 70 µs to ms at normal priority under full load (research
// notes). So it follows the 98th percentile (+20 µs) of the last 128 alarms' lateness, within
// [20, 300] µs: wider costs nothing in CPU, only delays the reading of acks by up to that long.

const MIN_NS = 20_000;
const MAX_NS = 300_000;
const INITIAL_NS = 100_000;
const MARGIN_NS = 20_000;
const SAMPLES = 128;
const QUANTILE = 0.98;
const RECOMPUTE_EVERY = 16;

export function createWindow() {
  const ring = new Float64Array(SAMPLES);
  const scratch = new Float64Array(SAMPLES);
  let count = 0;
  let ns = INITIAL_NS;
  return {
    get ns() {
      return ns;
    },
    /** @param {number} latenessNs how late an alarm reached the thread */
    record(latenessNs) {
      ring[count % SAMPLES] = latenessNs;
      count++;
      if (count % RECOMPUTE_EVERY !== 0) return;
      const k = Math.min(count, SAMPLES);
      const view = scratch.subarray(0, k);
      view.set(ring.subarray(0, k));
      view.sort();
      const q = view[Math.min(k - 1, Math.ceil(QUANTILE * k) - 1)];
      ns = Math.min(MAX_NS, Math.max(MIN_NS, Math.round(q + MARGIN_NS)));
    },
  };
}
