// Real-time priority for the replication threads alone (issue 13): SCHED_FIFO 1 via
// `chrt -f -p 1 <tid>` for the calling thread and the given helper threads. A sleeping
// real-time thread wakes within ~20 µs even with both cores saturated, and since these threads
// never spin, the rest of the machine loses only the CPU they really use (research notes).
import { spawnSync } from 'node:child_process';
import { readlinkSync, writeFileSync } from 'node:fs';

export const REALTIME_PRIORITY = 1;

/** This thread's kernel id (Linux), or null. */
export function ownTid() {
  try {
    return readlinkSync('/proc/thread-self').split('/').pop() ?? null;
  } catch {
    return null;
  }
}

function chrt(tid) {
  const r = spawnSync('chrt', ['-f', '-p', String(REALTIME_PRIORITY), String(tid)], {
    encoding: 'utf8',
    timeout: 5000,
  });
  if (r.error) return r.error.code === 'ENOENT' ? 'chrt is not installed (util-linux)' : r.error.message;
  if (r.status !== 0) return (r.stderr || `chrt exited ${r.status}`).trim().split('\n').pop();
  return null;
}

/**
 * @param {'auto'|'realtime'|'normal'} wanted
 * @param {(string|number)[]} helperTids threads started by this one that must share its priority
 * @returns {{ wanted: string, priority: 'realtime'|'normal', reason: string, tids: string[] }}
 */
export function applyThreadPriority(wanted, helperTids) {
  const self = ownTid();
  const tids = [self, ...helperTids.map(String)].filter((t) => t !== null && t !== undefined);
  if (wanted === 'normal') return { wanted, priority: 'normal', reason: 'normal priority requested', tids };
  if (self === null) return { wanted, priority: 'normal', reason: 'no /proc/thread-self (not Linux)', tids };
  for (const tid of tids) {
    const err = chrt(tid);
    if (err !== null) return { wanted, priority: 'normal', reason: `SCHED_FIFO not permitted: ${err}`, tids };
  }
  return {
    wanted,
    priority: 'realtime',
    reason: `SCHED_FIFO ${REALTIME_PRIORITY} on the replication threads only`,
    tids,
  };
}

/** Timer slack 1 ns for this thread's timed waits (no privilege needed; real-time threads ignore it). */
export function lowerTimerSlack() {
  const tid = ownTid();
  if (tid === null) return false;
  try {
    writeFileSync(`/proc/${tid}/timerslack_ns`, '1');
    return true;
  } catch {
    return false;
  }
}
