/** Errors of the delay scheduler; `code` is stable, the message is for humans. */
import { QuorumLabError } from '../contracts/errors.ts';
export type SchedulerErrorCode =
  | 'QL_ERR_SCHEDULER_OPTION' // an option is out of range or of the wrong type
  | 'QL_ERR_SCHEDULER_DELAY' // schedule() got a delay that is not a finite number (NaN, Infinity, undefined, ...)
  | 'QL_ERR_SCHEDULER_CLOSED'; // schedule() after close()

export class SchedulerError extends QuorumLabError {
  declare readonly code: SchedulerErrorCode;
  constructor(code: SchedulerErrorCode, message: string) {
    super(code, message);
  }
}

/** Validate a delay passed to schedule(); shared by both strategies. */
export function checkDelayUs(delayUs: unknown): number {
  if (typeof delayUs !== 'number' || !Number.isFinite(delayUs)) {
    throw new SchedulerError('QL_ERR_SCHEDULER_DELAY', `delayUs must be a finite number of µs, got ${String(delayUs)}`);
  }
  return delayUs;
}

/** Rethrow a callback's exception outside the firing loop, so one bad callback cannot stall the rest. */
export function rethrowAsync(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

export function closedError(): SchedulerError {
  return new SchedulerError('QL_ERR_SCHEDULER_CLOSED', 'schedule() called after close()');
}
