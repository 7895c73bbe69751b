/**
 * The 'precise' strategy.
 *
 * Deadlines live in one min-heap on the main thread (hrtime ns since the scheduler was created,
 * FIFO among equal deadlines). A helper thread (timer-worker.mjs) sleeps in Atomics.wait until
 * a spin window before the earliest deadline and then posts one message; from there the main thread
 * polls with setImmediate + hrtime, so sockets keep being served between checks, fires every
 * entry that is due, and re-arms the helper for the next deadline that is further than the
 * window away. The window adapts to how late alarms reach the main thread (scheduler-spin.ts). Nothing pending ⇒ the helper sleeps without a timeout, no timer or immediate exists,
 * and the helper is unref'd: an idle scheduler costs no CPU and does not keep the process alive.
 */
import { Worker } from 'node:worker_threads';
import type { DelayCallback, DelayScheduler } from './scheduler.ts';
import { MinHeap } from './min-heap.ts';
import { checkDelayUs, closedError, rethrowAsync } from './scheduler-errors.ts';
import { createSpinWindow, type SpinWindowOptions } from './scheduler-spin.ts';

const WORKER_URL = new URL('./timer-worker.mjs', import.meta.url);

// Shared-memory layout, mirrored in timer-worker.mjs.
const SEQ = 0;
const STOP = 1;
const DISARMED = 0x7fff_ffff_ffff_ffffn;

interface Entry {
  /** ns since the scheduler's epoch; an integer, so the BigInt conversions below are exact. */
  deadlineNs: number;
  seq: number;
  startNs: number;
  fn: DelayCallback;
}

function before(a: Entry, b: Entry): boolean {
  return a.deadlineNs < b.deadlineNs || (a.deadlineNs === b.deadlineNs && a.seq < b.seq);
}

export interface PreciseSchedulerOptions {
  /** Main-thread polling window before each deadline: fixed, or adaptive within bounds. */
  spin: SpinWindowOptions;
  /** Timer slack of the helper thread, ns; 0 = leave it. */
  timerSlackNs: number;
}

export interface PreciseDelayScheduler extends DelayScheduler {
  /** The polling window currently in use, µs. */
  readonly spinUs: number;
}

export function createPreciseScheduler(options: PreciseSchedulerOptions): PreciseDelayScheduler {
  const epochNs = process.hrtime.bigint();
  const nowNs = (): number => Number(process.hrtime.bigint() - epochNs);
  const spin = createSpinWindow(options.spin);
  const heap = new MinHeap<Entry>(before);
  const control = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  const alarm = new BigInt64Array(new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT));
  alarm[0] = DISARMED;

  let nextSeq = 0;
  // Invariant while entries are pending: polling, or the helper is ready and armed for the top.
  let polling = false;
  let immediate: NodeJS.Immediate | undefined;
  // Until the helper reports ready (startup takes tens of ms) or after it died, pending
  // entries are polled for all the way: precise, at the cost of CPU, never silently late.
  let alarmReady = false;
  let closed = false;
  let closing: Promise<void> | undefined;
  let worker: Worker | undefined;

  const poll = (): void => {
    immediate = undefined;
    // Entries due at the start of the pass fire in this pass, in heap order (this is also the
    // catch-up after a long block); ones that fall due meanwhile wait one loop turn, so a
    // callback scheduling 0 µs cannot starve I/O.
    const passNs = nowNs();
    let top = heap.peek();
    let fired = false;
    while (top !== undefined && top.deadlineNs <= passNs) {
      heap.pop();
      fired = true;
      const firedNs = nowNs();
      try {
        top.fn((firedNs - top.startNs) / 1000);
      } catch (err) {
        rethrowAsync(err);
      }
      if (closed) return;
      top = heap.peek();
    }
    if (top === undefined) {
      polling = false;
      // The helper may still be sleeping towards an old alarm; it will find this and sleep on.
      Atomics.store(alarm, 0, DISARMED);
      worker?.unref();
      return;
    }
    // Each clock read allocates a BigInt, and while polling this runs every few µs: an idle turn
    // reads the clock once (less garbage, fewer scavenges stalling the thread).
    const checkNs = fired ? nowNs() : passNs;
    if (!alarmReady || top.deadlineNs - checkNs <= spin.ns) {
      immediate = setImmediate(poll);
      return;
    }
    polling = false;
    arm(top.deadlineNs - spin.ns);
  };

  const startPolling = (): void => {
    polling = true;
    immediate = setImmediate(poll);
  };

  const arm = (wakeAtNs: number): void => {
    const at = BigInt(wakeAtNs);
    const previous = Atomics.exchange(alarm, 0, at);
    // A later alarm needs no wake-up: the helper wakes at the earlier one, rereads, sleeps on.
    if (at < previous) {
      Atomics.add(control, SEQ, 1);
      Atomics.notify(control, SEQ, 1);
    }
  };

  const onWorkerLost = (): void => {
    worker = undefined;
    alarmReady = false;
    if (!closed && !polling && heap.size > 0) startPolling();
  };

  try {
    worker = new Worker(WORKER_URL, {
      workerData: { control: control.buffer, alarm: alarm.buffer, epochNs, timerSlackNs: options.timerSlackNs },
      // The helper is plain JS: no need to load tsx or other loaders of the parent into it.
      execArgv: [],
    });
    worker.on('message', (message: unknown) => {
      if (closed) return;
      if (typeof message !== 'number') {
        alarmReady = true; // the ready message; a poll in progress will arm the helper
        return;
      }
      // An alarm: `message` is the wake-up time it was armed for.
      spin.record(nowNs() - message);
      if (!polling && heap.size > 0) startPolling();
    });
    worker.on('error', onWorkerLost);
    worker.on('exit', onWorkerLost);
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
  } catch {
    worker = undefined; // no worker threads here: degrade to polling
  }

  return {
    schedule(delayUs, fn) {
      checkDelayUs(delayUs);
      if (closed) throw closedError();
      const startNs = nowNs();
      const deadlineNs = delayUs > 0 ? startNs + Math.ceil(delayUs * 1000) : startNs;
      const entry: Entry = { deadlineNs, seq: nextSeq++, startNs, fn };
      if (heap.size === 0) worker?.ref();
      heap.push(entry);
      if (polling || heap.peek() !== entry) return;
      if (!alarmReady || deadlineNs - startNs <= spin.ns) startPolling();
      else arm(deadlineNs - spin.ns);
    },
    get pending() {
      return heap.size;
    },
    get spinUs() {
      return spin.ns / 1000;
    },
    close() {
      if (closing) return closing;
      closed = true;
      heap.clear();
      if (immediate) clearImmediate(immediate);
      immediate = undefined;
      polling = false;
      Atomics.store(control, STOP, 1);
      Atomics.add(control, SEQ, 1);
      Atomics.notify(control, SEQ);
      const w = worker;
      worker = undefined;
      closing = w ? w.terminate().then(() => undefined) : Promise.resolve();
      return closing;
    },
  };
}
