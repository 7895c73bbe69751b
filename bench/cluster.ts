/**
 * A real cluster (child processes, ephemeral ports) for a benchmark, with the control calls and the
 * CPU readings of its processes that the benchmarks need.
 */
import { startCluster, type ClusterOptions, type RunningCluster } from '../nodes/cluster.ts';
import { createControl, type Control } from '../harness/control.ts';
import { waitQuiescent } from '../harness/convergence.ts';
import { processCpuS } from './common.ts';

export type { SummaryJson } from '../contracts/stats.ts';
import type { LeaderStatsBody } from '../contracts/stats.ts';

/** The leader's GET /stats (contracts/stats.ts). */
export type LeaderStatsJson = LeaderStatsBody;

export interface BenchCluster {
  cluster: RunningCluster;
  control: Control;
  leaderUrl: string;
  followerUrls: string[];
  /** What the launcher applied to the leader ('realtime' = SCHED_FIFO under leaderPriority 'auto' when permitted). */
  leaderPriority: string;
  setQuorum(w: number): Promise<void>;
  /** Wait until the leader reports no pending replication. */
  quiesce(): Promise<void>;
  /** Wait for no pending replication, then clear the leader's and followers' stats. */
  quiesceAndReset(): Promise<void>;
  leaderStats(): Promise<LeaderStatsJson>;
  /** CPU seconds so far of [leader, follower1..]; null for a process that is gone. */
  cpuS(): Array<number | null>;
  stop(): Promise<void>;
}

export async function startBenchCluster(options: ClusterOptions): Promise<BenchCluster> {
  const cluster = await startCluster(options);
  const control = createControl(10_000);
  const all = [cluster.leaderUrl, ...cluster.followerUrls];
  return {
    cluster,
    control,
    leaderUrl: cluster.leaderUrl,
    followerUrls: cluster.followerUrls,
    leaderPriority: String((cluster as { leaderPriority?: unknown }).leaderPriority ?? 'unknown'),
    setQuorum: async (w) => {
      await control.sendJson('PUT', cluster.leaderUrl, '/config', { writeQuorum: w });
    },
    quiesce: async () => {
      await waitQuiescent(control, cluster.leaderUrl, 10_000);
    },
    quiesceAndReset: async () => {
      await waitQuiescent(control, cluster.leaderUrl, 10_000);
      await Promise.all(all.map((u) => control.sendJson('POST', u, '/stats/reset')));
    },
    leaderStats: () => control.getJson<LeaderStatsJson>(cluster.leaderUrl, '/stats'),
    cpuS: () => cluster.pids.map((pid) => processCpuS(pid)),
    stop: async () => {
      await control.close();
      await cluster.stop();
    },
  };
}

/** Per-process CPU between two cpuS() readings: [leader, followers summed], seconds. */
export function cpuDelta(
  before: Array<number | null>,
  after: Array<number | null>,
): { leaderS: number; followersS: number; perFollowerS: number[] } {
  const d = after.map((a, i) => (a ?? 0) - (before[i] ?? 0));
  const perFollowerS = d.slice(1);
  return { leaderS: d[0] ?? 0, followersS: perFollowerS.reduce((a, b) => a + b, 0), perFollowerS };
}
