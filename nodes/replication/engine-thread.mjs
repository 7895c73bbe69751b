// The replication thread of the leader (issue 13). It owns the follower connections and the
// deadline heap, and fires every leg on time without waiting for the leader's busy main loop:
//
// - Far from the next deadline it sits in its own, nearly idle event loop (acks, new writes),
//   with an alarm thread (../timer-worker.mjs) armed for `window` before that deadline.
// - Within `window` of it, it blocks in Atomics.wait until the deadline (never spins); the main
//   thread's notify after posting a write ends that wait early, so an earlier deadline is never
//   missed. Then it fires every leg that is due, one request per follower (a batch when several
//   legs to one follower are due), and yields one loop turn so acks are read before it waits again.
// - `window` follows the 98th percentile (+20 µs) of how late recent alarms reached this thread.
//
// Protocol with the main thread: nodes/replication/protocol.ts (shapes, shared-memory layout).
import { Worker, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { DeadlineHeap } from './deadline-heap.mjs';
import { SKIPPED, createSender } from './sender.mjs';
import { applyThreadPriority, lowerTimerSlack } from './thread-priority.mjs';
import { createWindow } from './wake-window.mjs';

// Shared layout, mirrored in protocol.ts.
const WAKE = 0;
const STAT_REQUESTS = 0;
const STAT_ENTRIES = 1;
const STAT_BATCHES = 2;
const STAT_WINDOW_NS = 3;
const STAT_ALARMS = 4;
const DISARMED = 0x7fff_ffff_ffff_ffffn;

const cfg = workerData;
const ctl = new Int32Array(cfg.control);
const down = new Int32Array(cfg.down);
const stats = new Float64Array(cfg.stats);
const epochNs = cfg.epochNs;
const nowNs = () => Number(process.hrtime.bigint() - epochNs);
const n = cfg.urls.length;
const heap = new DeadlineHeap();
const window = createWindow();
stats[STAT_WINDOW_NS] = window.ns;
let seq = 0;
let results = [];
let immediate = null;
let closing = false;

const sender = createSender({
  urls: cfg.urls,
  connections: cfg.connections,
  timeoutMs: cfg.timeoutMs,
  headers: cfg.headers,
  nowNs,
  onResult: (r) => {
    results.push(r);
    flushSoon();
  },
  onRequest: (entries) => {
    stats[STAT_REQUESTS]++;
    stats[STAT_ENTRIES] += entries;
    if (entries > 1) stats[STAT_BATCHES]++;
  },
});

// The alarm thread and its shared words (layout of ../timer-worker.mjs).
const alarmCtl = new Int32Array(new SharedArrayBuffer(8));
const alarmAt = new BigInt64Array(new SharedArrayBuffer(8));
alarmAt[0] = DISARMED;
const alarm = new Worker(new URL('../timer-worker.mjs', import.meta.url), {
  workerData: { control: alarmCtl.buffer, alarm: alarmAt.buffer, epochNs, timerSlackNs: 1 },
  execArgv: [],
});

function arm(atNs) {
  const at = BigInt(Math.floor(atNs));
  const previous = Atomics.exchange(alarmAt, 0, at);
  if (at < previous) {
    Atomics.add(alarmCtl, 0, 1);
    Atomics.notify(alarmCtl, 0, 1);
  }
}

/** Post the acks and failures gathered since the last flush, as one message. */
function flush() {
  if (results.length === 0) return;
  parentPort.postMessage(results);
  results = [];
}

/** A write from the main thread: [version, payload, scheduledNs, delayUs per follower (NaN: no leg)]. */
function accept(msg) {
  if (msg[0] === 'close') {
    void shutdown(msg[1]);
    return;
  }
  const [version, payload, scheduledNs, delaysUs] = msg;
  const write = { version, payload };
  for (let i = 0; i < n; i++) {
    const d = delaysUs[i];
    if (Number.isNaN(d)) continue;
    const deadlineNs = scheduledNs + Math.ceil(Math.max(0, d) * 1000);
    if (cfg.strategy === 'timeout') setTimeout(() => fire([{ follower: i, write }]), d / 1000);
    else heap.push({ deadlineNs, seq: seq++, follower: i, write });
  }
}

function drain() {
  for (let m = receiveMessageOnPort(parentPort); m !== undefined; m = receiveMessageOnPort(parentPort)) accept(m.message);
}

/** Send the given legs now: per follower in order of first appearance, one request each. */
function fire(legs) {
  const byFollower = new Map();
  for (const leg of legs) {
    const list = byFollower.get(leg.follower);
    if (list) list.push(leg.write);
    else byFollower.set(leg.follower, [leg.write]);
  }
  const firedNs = nowNs();
  for (const [i, writes] of byFollower) {
    if (Atomics.load(down, i) !== 0) {
      results.push([i, SKIPPED, writes.map((w) => w.version), firedNs, 0, 0, null]);
    } else sender.send(i, writes, firedNs);
  }
  if (cfg.strategy === 'timeout') flushSoon();
}

/** Run step() on the next loop turn (it flushes the results first). */
function flushSoon() {
  immediate ??= setImmediate(step);
}

/** Fire what is due, then sleep: in the loop (alarm armed) when far, blocked when near. */
function step() {
  immediate = null;
  flush();
  for (;;) {
    drain();
    const top = heap.peek();
    if (top === undefined) {
      Atomics.store(alarmAt, 0, DISARMED);
      return;
    }
    const now = nowNs();
    if (top.deadlineNs <= now) {
      const due = [];
      while (heap.size > 0 && heap.peek().deadlineNs <= now) due.push(heap.pop());
      fire(due);
      // One loop turn before the next wait: the requests go out and ready acks are read.
      immediate = setImmediate(step);
      return;
    }
    const remainingNs = top.deadlineNs - now;
    if (remainingNs > window.ns) {
      arm(top.deadlineNs - window.ns);
      return;
    }
    Atomics.wait(ctl, WAKE, Atomics.load(ctl, WAKE), remainingNs / 1e6);
  }
}

async function shutdown(graceMs) {
  if (closing) return;
  closing = true;
  Atomics.store(alarmCtl, 1, 1);
  Atomics.add(alarmCtl, 0, 1);
  Atomics.notify(alarmCtl, 0);
  await alarm.terminate();
  await sender.close(graceMs);
  flush();
  parentPort.postMessage({ closed: true });
}

alarm.on('message', (m) => {
  if (typeof m === 'number') {
    window.record(nowNs() - m);
    stats[STAT_WINDOW_NS] = window.ns;
    stats[STAT_ALARMS]++;
    if (immediate === null) step();
    return;
  }
  // The alarm thread's ready message: now both threads exist and can get their priority.
  const applied = applyThreadPriority(cfg.priority, [m.tid]);
  lowerTimerSlack();
  parentPort.postMessage({ ready: true, ...applied, alarmSlackSet: m.slackSet });
});
alarm.on('error', (err) => parentPort.postMessage({ fatal: `alarm thread: ${err.message}` }));
parentPort.on('message', (m) => {
  accept(m);
  if (immediate === null && !closing) step();
});
