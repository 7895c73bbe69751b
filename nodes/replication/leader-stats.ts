/**
 * The leader's counters and histograms for /stats, cleared by POST /stats/reset: write outcomes,
 * acks at response time, replication legs, and the injected delays (target, realised, error).
 */
import { createLatencySummary } from '../stats.ts';

export function createLeaderStats(followers: number) {
  const counters = {
    ok: 0,
    failed: 0,
    rejected: 0,
    unavailable: 0,
    sent: 0,
    acked: 0,
    replFailed: 0,
    skipped: 0,
    delayCount: 0,
    early: 0,
  };
  const acksAtResponse = new Array<number>(followers + 1).fill(0);
  const targetUs = createLatencySummary();
  const realisedUs = createLatencySummary();
  const errorUs = createLatencySummary();
  const writeLatencyUs = createLatencySummary();
  const handoffUs = createLatencySummary();
  return {
    counters,
    acksAtResponse,
    writeLatencyUs,
    /** One leg fell due: its target and realised delay, µs. */
    recordDelay(target: number, realised: number): void {
      counters.delayCount++;
      // 1 ns tolerance for float rounding of hrtime differences.
      if (realised + 1e-3 < target) counters.early++;
      targetUs.record(target);
      realisedUs.record(realised);
      errorUs.record(realised - target);
    },
    /** Version assigned on the main thread → write taken in by the replication thread, µs. */
    recordHandoff(us: number): void {
      handoffUs.record(us);
    },
    writesJson() {
      return {
        writes: {
          ok: counters.ok,
          failed: counters.failed,
          rejected: counters.rejected,
          unavailable: counters.unavailable,
        },
        acksAtResponse: Object.fromEntries(acksAtResponse.map((c, i) => [String(i), c])),
      };
    },
    legsJson() {
      return { sent: counters.sent, acked: counters.acked, failed: counters.replFailed, skipped: counters.skipped };
    },
    delaysJson() {
      return {
        count: counters.delayCount,
        early: counters.early,
        targetUs: targetUs.toJSON(),
        realisedUs: realisedUs.toJSON(),
        errorUs: errorUs.toJSON(),
        realisedHdr: realisedUs.encode(),
        handoffUs: handoffUs.toJSON(),
      };
    },
    reset(): void {
      for (const k of Object.keys(counters) as Array<keyof typeof counters>) counters[k] = 0;
      acksAtResponse.fill(0);
      for (const s of [targetUs, realisedUs, errorUs, writeLatencyUs, handoffUs]) s.reset();
    },
  };
}

export type LeaderStats = ReturnType<typeof createLeaderStats>;
