/**
 * Priority of the leader's replication thread (issue 13).
 *
 * Once the two cores are busy (six node processes plus the client threads), the kernel's CPU
 * scheduler decides when a thread runs. A thread that *sleeps* until a deadline and runs
 * SCHED_FIFO wakes within ~20 µs even with both cores saturated (research notes: 16.5 µs p50,
 * 48 µs p99), while at normal priority it may wait for milliseconds. Giving the whole leader
 * SCHED_FIFO (the earlier design) made delays exact but, because its main thread polled, starved
 * the followers on two cores (1 client: 180 vs 750 writes/s). So only the replication thread
 * (nodes/replication/), which never spins, gets real-time priority; the main thread
 * and the followers stay normal, and the rest of the machine loses only the CPU those threads use.
 *
 * 'auto' (default) = SCHED_FIFO 1 for that thread when permitted (root or CAP_SYS_NICE, and
 * util-linux's chrt), else normal; 'realtime' = required (the leader refuses to start without);
 * 'normal' = never. What was applied is in the leader's /stats `replication.priority` and `.reason`.
 */
import { spawnSync } from 'node:child_process';

export type LeaderPriority = 'auto' | 'realtime' | 'normal';
/** What the replication thread actually got. */
export type AppliedPriority = 'realtime' | 'normal';

export const LEADER_PRIORITIES: readonly LeaderPriority[] = ['auto', 'realtime', 'normal'];
/** Default of the leader, the launcher, the cluster CLI and the harness. */
export const DEFAULT_LEADER_PRIORITY: LeaderPriority = 'auto';
/** SCHED_FIFO priority: the lowest real-time level, enough to preempt normal tasks. */
export const REALTIME_PRIORITY = 1;

/** Whether `chrt -f 1` works here (util-linux present and the permission to use it). */
export function canRunRealtime(): boolean {
  const r = spawnSync('chrt', ['-f', String(REALTIME_PRIORITY), 'true'], { stdio: 'ignore', timeout: 5000 });
  return r.status === 0;
}

/** Resolve the wanted priority to what will be applied; null when 'realtime' was required but is not possible. */
export function resolvePriority(
  wanted: LeaderPriority,
  available: () => boolean = canRunRealtime,
): AppliedPriority | null {
  if (wanted === 'normal') return 'normal';
  const ok = available();
  if (ok) return 'realtime';
  return wanted === 'auto' ? 'normal' : null;
}
