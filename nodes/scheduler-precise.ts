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

interface AlarmEvents {
  /** The helper has started: alarms can be armed from now on. */
  onReady(): void;
  /** An alarm went off; `armedNs` is the wake-up time it was armed for. */
  onAlarm(armedNs: number): void;
  /** The helper died or could not start: poll instead. */
  onLost(): void;
}

/** The helper thread that sleeps until an alarm time and then posts it (timer-worker.mjs). */
interface Alarm {
  arm(wakeAtNs: number): void;
  /** Nothing pending: the helper may sleep on without keeping the process alive. */
  disarm(): void;
  /** Something pending: keep the process alive while the helper sleeps. */
  ref(): void;
  stop(): Promise<void>;
}

function createAlarm(epochNs: bigint, timerSlackNs: number, events: AlarmEvents): Alarm {
  const control = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  const alarm = new BigInt64Array(new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT));
  alarm[0] = DISARMED;
  let worker: Worker | undefined;
  const onWorkerLost = (): void => {
    worker = undefined;
    events.onLost();
  };
  try {
    worker = new Worker(WORKER_URL, {
      workerData: { control: control.buffer, alarm: alarm.buffer, epochNs, timerSlackNs },
      // The helper is plain JS: no need to load tsx or other loaders of the parent into it.
      execArgv: [],
    });
    worker.on('message', (message: unknown) => {
      if (typeof message !== 'number') events.onReady();
      else events.onAlarm(message);
    });
    worker.on('error', onWorkerLost);
    worker.on('exit', onWorkerLost);
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
  } catch {
    worker = undefined; // no worker threads here: degrade to polling
  }
  return {
    arm(wakeAtNs) {
      const at = BigInt(wakeAtNs);
      const previous = Atomics.exchange(alarm, 0, at);
      // A later alarm needs no wake-up: the helper wakes at the earlier one, rereads, sleeps on.
      if (at < previous) {
        Atomics.add(control, SEQ, 1);
        Atomics.notify(control, SEQ, 1);
      }
    },
    disarm() {
      // The helper may still be sleeping towards an old alarm; it will find this and sleep on.
      Atomics.store(alarm, 0, DISARMED);
      worker?.unref();
    },
    ref: () => worker?.ref(),
    stop() {
      Atomics.store(control, STOP, 1);
      Atomics.add(control, SEQ, 1);
      Atomics.notify(control, SEQ);
      const w = worker;
      worker = undefined;
      return w ? w.terminate().then(() => undefined) : Promise.resolve();
    },
  };
}

/**
 * Fires the entries due at `passNs`, in heap order; ones that fall due meanwhile wait one loop
 * turn, so a callback scheduling 0 µs cannot starve I/O. 'closed' when a callback closed the scheduler.
 */
function fireDue(
  heap: MinHeap<Entry>,
  passNs: number,
  nowNs: () => number,
  isClosed: () => boolean,
): boolean | 'closed' {
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
    if (isClosed()) return 'closed';
    top = heap.peek();
  }
  return fired;
}

export function createPreciseScheduler(options: PreciseSchedulerOptions): PreciseDelayScheduler {
  const epochNs = process.hrtime.bigint();
  const nowNs = (): number => Number(process.hrtime.bigint() - epochNs);
  const spin = createSpinWindow(options.spin);
  const heap = new MinHeap<Entry>(before);
  let nextSeq = 0;
  // Invariant while entries are pending: polling, or the helper is ready and armed for the top.
  let polling = false;
  let immediate: NodeJS.Immediate | undefined;
  // Until the helper reports ready (startup takes tens of ms) or after it died, pending
  // entries are polled for all the way: precise, at the cost of CPU, never silently late.
  let alarmReady = false;
  let closed = false;
  let closing: Promise<void> | undefined;

  const poll = (): void => {
    immediate = undefined;
    // Entries due at the start of the pass fire in this pass (this is also the catch-up after a long block).
    const passNs = nowNs();
    const fired = fireDue(heap, passNs, nowNs, () => closed);
    if (fired === 'closed') return;
    const top = heap.peek();
    if (top === undefined) {
      polling = false;
      alarm.disarm();
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
    alarm.arm(top.deadlineNs - spin.ns);
  };

  const startPolling = (): void => {
    polling = true;
    immediate = setImmediate(poll);
  };

  const alarm = createAlarm(epochNs, options.timerSlackNs, {
    onReady() {
      if (!closed) alarmReady = true; // a poll in progress will arm the helper
    },
    onAlarm(armedNs) {
      if (closed) return;
      spin.record(nowNs() - armedNs);
      if (!polling && heap.size > 0) startPolling();
    },
    onLost() {
      alarmReady = false;
      if (!closed && !polling && heap.size > 0) startPolling();
    },
  });

  return {
    schedule(delayUs, fn) {
      checkDelayUs(delayUs);
      if (closed) throw closedError();
      const startNs = nowNs();
      const deadlineNs = delayUs > 0 ? startNs + Math.ceil(delayUs * 1000) : startNs;
      const entry: Entry = { deadlineNs, seq: nextSeq++, startNs, fn };
      if (heap.size === 0) alarm.ref();
      heap.push(entry);
      if (polling || heap.peek() !== entry) return;
      if (!alarmReady || deadlineNs - startNs <= spin.ns) startPolling();
      else alarm.arm(deadlineNs - spin.ns);
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
      closing = alarm.stop();
      return closing;
    },
  };
}
