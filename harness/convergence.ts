/**
 * After the load: wait until the leader reports no pending replication, then compare every
 * follower's /data with the leader's. A follower with a missing key, another version or another
 * value counts that key as mismatched (so are keys the leader does not have).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Control } from './control.ts';
import type { LeaderStats } from '../contracts/stats.ts';

export type { LeaderStats } from '../contracts/stats.ts';

export type DataDump = Record<string, { value: unknown; version: number }>;

export interface ConvergenceResult {
  quiescent: boolean;
  waitedMs: number;
  /** Mismatched keys per follower, in follower order. */
  mismatchedKeys: number[];
  leaderKeys: number;
  converged: boolean;
  /** The leader's /stats once quiescent (or at the deadline). */
  leaderStats: LeaderStats;
}

export async function waitQuiescent(
  control: Control,
  leaderUrl: string,
  timeoutMs: number,
  pollMs = 20,
): Promise<{ quiescent: boolean; waitedMs: number; stats: LeaderStats }> {
  const started = Date.now();
  const maxPolls = Math.max(1, Math.ceil(timeoutMs / pollMs) + 1);
  let stats: LeaderStats = {};
  for (let i = 0; i < maxPolls; i++) {
    stats = await control.getJson<LeaderStats>(leaderUrl, '/stats');
    if (isQuiescent(stats)) return { quiescent: true, waitedMs: Date.now() - started, stats };
    if (Date.now() - started >= timeoutMs) break;
    await sleep(pollMs);
  }
  return { quiescent: false, waitedMs: Date.now() - started, stats };
}

/**
 * No replication scheduled or in flight, and no follower down or catching up (docs/contracts.md).
 * A follower can go down without any fault (a probe timing out on busy cores): comparing replicas
 * before the leader has caught it up would report a divergence that is only a wait.
 */
export function isQuiescent(stats: LeaderStats): boolean {
  if ((stats.replication?.pending ?? 0) !== 0) return false;
  const a = stats.availability;
  return a === undefined || ((a.down ?? 0) === 0 && (a.catching_up ?? 0) === 0);
}

export function countMismatches(leader: DataDump, follower: DataDump): number {
  let mismatched = 0;
  for (const [key, entry] of Object.entries(leader)) {
    const f = follower[key];
    if (!f || f.version !== entry.version || JSON.stringify(f.value) !== JSON.stringify(entry.value)) mismatched++;
  }
  for (const key of Object.keys(follower)) if (!(key in leader)) mismatched++;
  return mismatched;
}

/** Compare every follower with the leader, handing back the /data dumps (leader first) for the nothing-lost check. */
export async function checkConvergenceWithData(
  control: Control,
  leaderUrl: string,
  followerUrls: readonly string[],
  timeoutMs: number,
): Promise<{ convergence: ConvergenceResult; dumps: DataDump[] }> {
  const q = await waitQuiescent(control, leaderUrl, timeoutMs);
  const dumps = await Promise.all([leaderUrl, ...followerUrls].map((url) => control.getJson<DataDump>(url, '/data')));
  const [leaderData, ...followerData] = dumps;
  const mismatchedKeys = followerData.map((d) => countMismatches(leaderData!, d));
  return {
    convergence: {
      quiescent: q.quiescent,
      waitedMs: q.waitedMs,
      mismatchedKeys,
      leaderKeys: Object.keys(leaderData!).length,
      converged: q.quiescent && mismatchedKeys.every((n) => n === 0),
      leaderStats: q.stats,
    },
    dumps,
  };
}
