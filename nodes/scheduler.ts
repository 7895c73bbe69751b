/**
 * Delay scheduler interface. PLACEHOLDER implementation on setTimeout: the precise scheduler
 * replaces the body of createDelayScheduler; the interface below is the contract.
 */

/** Called when a delay elapses, with the realised delay (fire time − schedule time) in µs. */
export type DelayCallback = (realisedUs: number) => void;

export interface DelayScheduler {
  /** Run `fn` after `delayUs` microseconds (0 or negative: as soon as possible, still async). */
  schedule(delayUs: number, fn: DelayCallback): void;
  /** Number of delays scheduled and not yet fired. */
  readonly pending: number;
  /** Stop any helper threads/timers; pending callbacks are dropped. */
  close(): Promise<void>;
}

export interface DelaySchedulerOptions {
  /** 'precise' (default) or 'timeout' (plain setTimeout, for comparison in benchmarks). */
  strategy?: 'precise' | 'timeout';
}

export function createDelayScheduler(options: DelaySchedulerOptions = {}): DelayScheduler {
  void options;
  let pending = 0;
  return {
    schedule(delayUs, fn) {
      const start = process.hrtime.bigint();
      pending++;
      setTimeout(() => {
        pending--;
        fn(Number(process.hrtime.bigint() - start) / 1000);
      }, Math.max(0, delayUs / 1000));
    },
    get pending() {
      return pending;
    },
    async close() {},
  };
}
