/**
 * Scheduling priority of the leader process.
 *
 * Once the two cores are busy (six node processes plus the client threads), the kernel's CPU
 * scheduler, not our delay scheduler, decides when the leader runs: realised injected delays then
 * land 0.3 ms late at p50 and several ms late at p99 (research notes; measured again here). Running
 * the leader under SCHED_FIFO (`chrt -f 1`, root or CAP_SYS_NICE) lets it preempt everything else
 * the moment a deadline is due, which brings the realised − target error back to ~1 µs p50.
 * Every thread it starts (the delay scheduler's alarm thread included) inherits the policy.
 *
 * It is not the default because on two cores it costs the rest of the system dearly: while the
 * real-time leader polls for a near deadline it owns a core, and followers woken on that core wait
 * for the load balancer to move them. Measured with one closed-loop client (W=1): normal 750 writes/s,
 * p50 605 µs; realtime 180 writes/s, p50 1585 µs. With 10 clients it trades ~20% throughput for
 * injected delays that are right to ~1 µs at p50. So: opt in, and read the delay error in the summary.
 */
import { spawnSync } from 'node:child_process';

/** 'auto' = real-time when the machine allows it, else normal; 'realtime' = required; 'normal' = never. */
export type LeaderPriority = 'auto' | 'realtime' | 'normal';
/** What a started leader actually got. */
export type AppliedPriority = 'realtime' | 'normal';

export const LEADER_PRIORITIES: readonly LeaderPriority[] = ['auto', 'realtime', 'normal'];
/** Default of the launcher, the cluster CLI and the harness. */
export const DEFAULT_LEADER_PRIORITY: LeaderPriority = 'normal';
/** SCHED_FIFO priority given to the leader: the lowest real-time level, enough to preempt normal tasks. */
export const REALTIME_PRIORITY = 1;

/** Whether `chrt -f 1` works here (util-linux present and the permission to use it). */
export function canRunRealtime(): boolean {
  const r = spawnSync('chrt', ['-f', String(REALTIME_PRIORITY), 'true'], { stdio: 'ignore', timeout: 5000 });
  return r.status === 0;
}

/** Resolve the wanted priority to what will be applied; null when 'realtime' was required but is not possible. */
export function resolvePriority(wanted: LeaderPriority, available: () => boolean = canRunRealtime): AppliedPriority | null {
  if (wanted === 'normal') return 'normal';
  const ok = available();
  if (ok) return 'realtime';
  return wanted === 'auto' ? 'normal' : null;
}

/** Command and arguments that start `file args...` with the applied priority. */
export function withPriority(priority: AppliedPriority, file: string, args: readonly string[]): { file: string; args: string[] } {
  if (priority === 'normal') return { file, args: [...args] };
  return { file: 'chrt', args: ['-f', String(REALTIME_PRIORITY), file, ...args] };
}
