/**
 * Sub-millisecond delay scheduler: runs callbacks after delays of ~0.1–1 ms without firing early.
 *
 * `setTimeout` cannot do this in Node 20: it follows libuv's cached millisecond clock, so a 0.3 ms
 * timeout realises anywhere from ~0.1 to 2 ms and concurrent timeouts fire in creation order.
 * The default 'precise' strategy (scheduler-precise.ts) keeps a min-heap of hrtime deadlines, lets
 * a worker thread sleep until shortly before the earliest one, and polls on the main thread only
 * for that final stretch. See docs/scheduler.md for the design and measured figures.
 */
import { SchedulerError } from './scheduler-errors.ts';
import { createPreciseScheduler } from './scheduler-precise.ts';
import { SPIN_DEFAULTS } from './scheduler-spin.ts';
import { createTimeoutScheduler } from './scheduler-timeout.ts';

export { SchedulerError, type SchedulerErrorCode } from './scheduler-errors.ts';
export type { PreciseDelayScheduler } from './scheduler-precise.ts';

/** Called when a delay elapses, with the realised delay (fire time − schedule time) in µs. */
export type DelayCallback = (realisedUs: number) => void;

export interface DelayScheduler {
  /**
   * Run `fn` after `delayUs` microseconds (0 or negative: as soon as possible, still async).
   * Throws SchedulerError QL_ERR_SCHEDULER_DELAY for a non-number/NaN delay and
   * QL_ERR_SCHEDULER_CLOSED after close(). An exception thrown by `fn` does not stop other
   * callbacks; it is rethrown asynchronously (an 'uncaughtException', as from a timer).
   */
  schedule(delayUs: number, fn: DelayCallback): void;
  /** Number of delays scheduled and not yet fired. */
  readonly pending: number;
  /** Stop any helper threads/timers; pending callbacks are dropped. Idempotent. */
  close(): Promise<void>;
}

export type DelayStrategy = 'precise' | 'timeout';

export interface DelaySchedulerOptions {
  /**
   * 'precise' (default): never early, fires in deadline order (FIFO for equal deadlines).
   * 'timeout': one plain `setTimeout` per delay, for comparison in benchmarks — it rounds to
   * libuv's millisecond clock, so it can fire early or ~1 ms late, and not in deadline order.
   */
  strategy?: DelayStrategy;
  /**
   * 'precise' only. How long before a deadline the sleeping helper thread wakes the main thread,
   * which then polls (setImmediate + hrtime) until the deadline, in µs; or 'auto' (default): the
   * window follows the 98th percentile (+20 µs) of how late recent alarms reached the main
   * thread, within [minSpinUs, maxSpinUs]. Wider ⇒ fewer late fires, more main-thread CPU.
   */
  spinUs?: number | 'auto';
  /** 'precise' with spinUs 'auto': lower bound of the window, µs. Default 50. */
  minSpinUs?: number;
  /** 'precise' with spinUs 'auto': upper bound of the window, µs. Default 300. */
  maxSpinUs?: number;
  /**
   * 'precise' only. Linux timer slack of the helper thread, in ns (the kernel may delay a timed
   * sleep by up to this much; its default is 50 000). 0 leaves the inherited slack. Default 1.
   */
  timerSlackNs?: number;
}

/** Defaults of the 'precise' strategy, exported for documentation and benchmarks. */
export const DEFAULT_SPIN_US = 'auto';
export const DEFAULT_TIMER_SLACK_NS = 1;

export function createDelayScheduler(options: DelaySchedulerOptions = {}): DelayScheduler {
  const strategy = options.strategy ?? 'precise';
  if (strategy === 'timeout') return createTimeoutScheduler();
  if (strategy !== 'precise') {
    throw new SchedulerError(
      'QL_ERR_SCHEDULER_OPTION',
      `strategy must be 'precise' or 'timeout', got ${JSON.stringify(strategy)}`,
    );
  }
  const spinUs = options.spinUs ?? DEFAULT_SPIN_US;
  if (spinUs !== 'auto') checkMicros('spinUs', spinUs);
  const minSpinUs = checkMicros('minSpinUs', options.minSpinUs ?? SPIN_DEFAULTS.minUs);
  const maxSpinUs = checkMicros('maxSpinUs', options.maxSpinUs ?? SPIN_DEFAULTS.maxUs);
  if (minSpinUs > maxSpinUs) {
    throw new SchedulerError(
      'QL_ERR_SCHEDULER_OPTION',
      `minSpinUs (${minSpinUs}) must not exceed maxSpinUs (${maxSpinUs})`,
    );
  }
  const timerSlackNs = options.timerSlackNs ?? DEFAULT_TIMER_SLACK_NS;
  if (!Number.isSafeInteger(timerSlackNs) || timerSlackNs < 0) {
    throw new SchedulerError(
      'QL_ERR_SCHEDULER_OPTION',
      `timerSlackNs must be an integer ≥ 0 (ns), got ${String(timerSlackNs)}`,
    );
  }
  return createPreciseScheduler({
    spin: spinUs === 'auto' ? { minUs: minSpinUs, maxUs: maxSpinUs } : { fixedUs: spinUs },
    timerSlackNs,
  });
}

function checkMicros(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new SchedulerError(
      'QL_ERR_SCHEDULER_OPTION',
      `${name} must be a finite number ≥ 0 (µs) or 'auto', got ${String(value)}`,
    );
  }
  return value;
}
