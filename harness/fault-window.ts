/**
 * The fault state the main thread shares with the client workers, in one SharedArrayBuffer:
 * Int32 slots (faulted followers now, completed measured writes, log length) and a log of every
 * change of the faulted count with its time on the shared monotonic clock. A worker classifies a
 * write by the state at its *intended* time, so a client thread that runs late (a busy machine)
 * still puts a write due during a pause in the fault window.
 */
import { monotonicUs } from '../contracts/trace.ts';

export const SHARED_ACTIVE_FAULTS = 0;
export const SHARED_DONE = 1;
const SHARED_LOG_LEN = 2;
/** Int32 slots before the log (16 bytes keep the Float64 log aligned). */
const HEADER_SLOTS = 4;
/** Changes of the faulted count logged; later ones only update SHARED_ACTIVE_FAULTS. */
export const FAULT_LOG_CAPACITY = 256;
/** Int32 slots of the whole buffer: `new SharedArrayBuffer(SHARED_SLOTS * 4)`. */
export const SHARED_SLOTS = HEADER_SLOTS + FAULT_LOG_CAPACITY * 4;

function logOf(shared: Int32Array): Float64Array {
  return new Float64Array(shared.buffer, HEADER_SLOTS * 4, FAULT_LOG_CAPACITY * 2);
}

/** Main thread: the number of faulted followers is now `count`. */
export function publishFaultCount(shared: Int32Array, count: number, nowUs: number = monotonicUs()): void {
  const len = Atomics.load(shared, SHARED_LOG_LEN);
  const last = len > 0 ? logOf(shared)[2 * (len - 1) + 1] : 0;
  if (len < FAULT_LOG_CAPACITY && last !== count) {
    const log = logOf(shared);
    log[2 * len] = nowUs;
    log[2 * len + 1] = count;
    // The length is stored after the entry, so a reader never sees a half-written one.
    Atomics.store(shared, SHARED_LOG_LEN, len + 1);
  }
  Atomics.store(shared, SHARED_ACTIVE_FAULTS, count);
}

/** Worker: faulted followers at monotonic time `atUs` (the current count once the log is full and `atUs` is past it). */
export function faultCountAt(shared: Int32Array, atUs: number): number {
  const len = Atomics.load(shared, SHARED_LOG_LEN);
  if (len === FAULT_LOG_CAPACITY && atUs >= logOf(shared)[2 * (len - 1)]!)
    return Atomics.load(shared, SHARED_ACTIVE_FAULTS);
  const log = logOf(shared);
  for (let i = len - 1; i >= 0; i--) if (log[2 * i]! <= atUs) return log[2 * i + 1]!;
  return 0;
}
