/**
 * What the leader's main thread and its replication thread (engine-thread.mjs) exchange. The
 * thread is plain JS, so this file is the one typed statement of the protocol; the .mjs side
 * mirrors the constants below.
 *
 * Main → thread (postMessage, then a bump + notify of control[WAKE] so a thread asleep in a
 * slice before a deadline picks the write up at once):
 *   WriteMessage = [version, payload, scheduledNs, delaysUs]   payload: the entry's JSON, serialised once
 *   ['close', graceMs]
 * Thread → main:
 *   ReadyMessage once; then arrays of LegResult (one array per loop turn of the thread); { closed: true }.
 * Shared memory: control Int32Array [WAKE]; down Int32Array [follower] (1 = down: legs due are skipped);
 * stats Float64Array (STAT_*).
 */

export const WAKE = 0;
export const STAT_REQUESTS = 0;
export const STAT_ENTRIES = 1;
export const STAT_BATCHES = 2;
export const STAT_SLICE_NS = 3;
export const STAT_WAITS = 4;
export const STAT_SLOTS = 5;

/** [version, payload JSON, ns since the engine epoch when the main thread assigned the version, delay µs per follower (NaN = no leg)]. */
export type WriteMessage = [number, string, number, number[]];

export const ACKED = 0;
export const FAILED = 1;
export const SKIPPED = 2;
/** Not a leg: the thread took the write in at firedNs; every delay of the write counts from then. */
export const RECEIVED = 3;
export type LegOutcome = typeof ACKED | typeof FAILED | typeof SKIPPED | typeof RECEIVED;

/**
 * One request's outcome (or one skip): [follower, outcome, versions, firedNs, sentNs, ackNs, detail]
 * where detail is the follower's boot id (ACKED; null if it sent none), the failure reason
 * (FAILED) or null (SKIPPED: the follower was down when the legs fell due). Times are ns since
 * the engine epoch; sentNs and ackNs are 0 for a skip. RECEIVED: [-1, RECEIVED, [version], receivedNs, 0, 0, null],
 * sent before any leg of that write.
 */
export type LegResult = [number, LegOutcome, number[], number, number, number, string | null];

export interface ReadyMessage {
  ready: true;
  wanted: 'auto' | 'realtime' | 'normal';
  priority: 'realtime' | 'normal';
  reason: string;
  /** Kernel thread id of the replication thread. */
  tids: string[];
}
