/** Waiting for an intended instant, precisely enough that the harness adds no latency of its own. */
import { performance } from 'node:perf_hooks';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';

/** Wait until a performance.now() instant: a timer for the bulk, then yielding spins for the last ~1.5 ms
 * (setTimeout alone lands up to ~1 ms late, which would show up as harness latency). `cancelled` is
 * polled about every millisecond and ends the wait early. */
export async function waitUntil(targetMs: number, cancelled?: () => boolean): Promise<void> {
  for (let left = targetMs - performance.now(); left > 2; left = targetMs - performance.now()) {
    await sleep(cancelled ? Math.min(left - 1.5, 1) : left - 1.5);
    if (cancelled?.()) return;
  }
  while (performance.now() < targetMs) {
    if (cancelled?.()) return;
    await immediate();
  }
}
