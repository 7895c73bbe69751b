// The replication thread of the leader (issue 13). It owns the follower connections and the
// deadline heap, and fires every leg on time without waiting for the leader's busy main loop:
//
// - While a deadline is pending within HORIZON, it sleeps in Atomics.wait (never spins) until the
//   deadline; while requests are in flight, in slices of at most SLICE, each followed by one turn
//   of its own, nearly idle event loop to read the acks; the main thread's notify after posting a write ends
//   a slice early, so an earlier deadline is never missed. A sleeping thread wakes within ~20 µs
//   at real-time priority even with both cores saturated (research notes); a hop through another
//   thread's event loop (an alarm thread posting a message) measured ~100 µs p50 and ms tails.
// - Farther deadlines wait on a plain timer until HORIZON before them; with nothing pending it
//   sits in its event loop and costs nothing.
// - Every leg that is due fires together: one request per follower (a batch when several legs to
//   one follower are due).
//
// Protocol with the main thread: nodes/replication/protocol.ts (shapes, shared-memory layout).
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { DeadlineHeap } from './deadline-heap.mjs';
import { RECEIVED, SKIPPED, createSender } from './sender.mjs';
import { applyThreadPriority, lowerTimerSlack } from './thread-priority.mjs';

// Shared layout, mirrored in protocol.ts.
const WAKE = 0;
const STAT_REQUESTS = 0;
const STAT_ENTRIES = 1;
const STAT_BATCHES = 2;
const STAT_SLICE_NS = 3;
const STAT_WAITS = 4;
/**
 * Longest sleep while answers are in flight: acks are read at least this often. Each wake-up costs
 * CPU (10 closed-loop clients, W=3: engine thread ~460 µs per write at 100 µs, ~300 at 250 µs).
 */
const SLICE_NS = 200_000;
/** Deadlines farther than this wait on a libuv timer (millisecond resolution, often late by ~1 ms) first. */
const HORIZON_NS = 3_000_000;
/**
 * After any activity, keep sleeping in slices for this long even with nothing pending: a write
 * posted by the main thread then wakes this thread through the shared word (a futex wake, ~20 µs
 * at real-time priority) instead of a MessagePort hop into an idle event loop (~100–500 µs on the
 * loaded 2-core VM, ms at times), which would eat into a 100 µs delay.
 */
const LINGER_NS = 20_000_000;

const cfg = workerData;
const ctl = new Int32Array(cfg.control);
const down = new Int32Array(cfg.down);
const stats = new Float64Array(cfg.stats);
const epochNs = cfg.epochNs;
const nowNs = () => Number(process.hrtime.bigint() - epochNs);
const n = cfg.urls.length;
const heap = new DeadlineHeap();
stats[STAT_SLICE_NS] = SLICE_NS;
let seq = 0;
let results = [];
let immediate = null;
let closing = false;
let coarse = null;
let activeUntilNs = 0;

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
  const [version, payload, , delaysUs] = msg;
  // Delays count from here: a main thread preempted between versioning and posting (normal
  // priority on a busy machine: ms at times) is leader processing, reported as the hand-off.
  const scheduledNs = nowNs();
  results.push([-1, RECEIVED, [version], scheduledNs, 0, 0, null]);
  activeUntilNs = scheduledNs + LINGER_NS;
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
  for (let m = receiveMessageOnPort(parentPort); m !== undefined; m = receiveMessageOnPort(parentPort))
    accept(m.message);
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

/** Fire what is due; sleep a slice towards the next deadline; or leave it to a timer when far. */
function step() {
  immediate = null;
  if (coarse !== null) clearTimeout(coarse);
  coarse = null;
  flush();
  drain();
  if (closing) return;
  let top = heap.peek();
  let now = nowNs();
  if (top === undefined) {
    if (now >= activeUntilNs) return;
    sleep(Math.min(sliceNs(), activeUntilNs - now));
    immediate = setImmediate(step);
    return;
  }
  const remainingNs = top.deadlineNs - now;
  if (remainingNs > HORIZON_NS) {
    coarse = setTimeout(step, Math.floor((remainingNs - HORIZON_NS) / 1e6));
    return;
  }
  if (remainingNs > 0) {
    sleep(Math.min(remainingNs, sliceNs()));
    top = heap.peek();
    now = nowNs();
  }
  if (top.deadlineNs <= now) {
    const due = [];
    while (heap.size > 0 && heap.peek().deadlineNs <= now) due.push(heap.pop());
    fire(due);
  }
  // One loop turn before the next slice: the requests go out and ready acks are read.
  immediate = setImmediate(step);
}

/** Wake for the event loop only while answers are expected; otherwise only the deadline or a new write ends a sleep. */
function sliceNs() {
  return sender.inflight > 0 ? SLICE_NS : HORIZON_NS;
}

/** Block (no spinning) for up to `ns`, or until the main thread posts a write; then take it in. */
function sleep(ns) {
  stats[STAT_WAITS]++;
  Atomics.wait(ctl, WAKE, Atomics.load(ctl, WAKE), ns / 1e6);
  // A write posted meanwhile may be due earlier than the one waited for.
  drain();
}

async function shutdown(graceMs) {
  if (closing) return;
  closing = true;
  if (coarse !== null) clearTimeout(coarse);
  await sender.close(graceMs);
  flush();
  parentPort.postMessage({ closed: true });
}

applyAndReport();

function applyAndReport() {
  const applied = applyThreadPriority(cfg.priority, []);
  lowerTimerSlack();
  parentPort.postMessage({ ready: true, ...applied });
}

parentPort.on('message', (m) => {
  accept(m);
  if (immediate === null && !closing) step();
});
