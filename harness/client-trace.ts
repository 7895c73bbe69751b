/**
 * Client-side traces (issue 9): a bounded ring of ClientWriteTrace per worker thread. Like the
 * nodes' rings it keeps the newest records, so the harness's and the nodes' survivors overlap.
 * Times are µs on the shared monotonic clock (contracts/trace.ts); the hot path measures with
 * performance.now() and converts with one offset taken at thread start (both clocks are monotonic).
 */
import { performance } from 'node:perf_hooks';
import { monotonicUs, type ClientWriteTrace } from '../contracts/trace.ts';

export interface TraceRing {
  push(trace: ClientWriteTrace): void;
  /** Oldest first. */
  list(): ClientWriteTrace[];
  /** Records overwritten because the ring was full. */
  dropped(): number;
}

export function createTraceRing(capacity: number): TraceRing {
  const ring: ClientWriteTrace[] = [];
  let next = 0;
  let dropped = 0;
  return {
    push(trace) {
      if (capacity <= 0) {
        dropped++;
        return;
      }
      if (ring.length < capacity) ring.push(trace);
      else {
        ring[next] = trace;
        dropped++;
      }
      next = (next + 1) % capacity;
    },
    list: () => (ring.length < capacity ? [...ring] : [...ring.slice(next), ...ring.slice(0, next)]),
    dropped: () => dropped,
  };
}

/** Converts performance.now() instants (ms) to integer µs on the monotonic clock the nodes use. */
export function createClockBridge(): (perfMs: number) => number {
  const offsetUs = monotonicUs() - performance.now() * 1000;
  return (perfMs) => Math.round(perfMs * 1000 + offsetUs);
}
