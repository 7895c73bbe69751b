/**
 * The 'timeout' strategy: one plain setTimeout per delay. Kept only as the baseline the precise
 * strategy is measured against; it inherits setTimeout's faults (1 ms clamp, libuv's cached
 * millisecond clock ⇒ early or late by up to ~1 ms, creation order instead of deadline order).
 */
import type { DelayScheduler } from './scheduler.ts';
import { checkDelayUs, closedError, rethrowAsync } from './scheduler-errors.ts';

export function createTimeoutScheduler(): DelayScheduler {
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  return {
    schedule(delayUs, fn) {
      checkDelayUs(delayUs);
      if (closed) throw closedError();
      const startNs = process.hrtime.bigint();
      const timer = setTimeout(
        () => {
          timers.delete(timer);
          try {
            fn(Number(process.hrtime.bigint() - startNs) / 1000);
          } catch (err) {
            rethrowAsync(err);
          }
        },
        Math.max(0, delayUs / 1000),
      );
      timers.add(timer);
    },
    get pending() {
      return timers.size;
    },
    async close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
