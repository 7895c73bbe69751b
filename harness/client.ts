/**
 * The logical clients of one worker thread: warm-up, a barrier with the main thread, then the
 * measured writes with read-back and visibility probes. Runs inside a piscina worker
 * (client-worker.ts) but has no piscina dependency, so tests can run it on the main thread.
 *
 * The schedule is sacred (issue 12). In open loop a write leaves at its intended time whatever
 * happened to earlier writes, read-backs or probes: writes go out on a per-thread pool without
 * waiting for each other, bounded only by `maxInFlight` (each write that had to wait for it is
 * counted in `capWaits`). In closed loop a client waits for its own write, and for the read-back of
 * the replicas that answered their last read, never for an unavailable one. Reads have their own
 * connections and budget (client-reads.ts, client-readback.ts).
 *
 * Main-thread protocol on the task's MessagePort, messages `{cmd, data}`:
 *   worker -> main  {cmd:'warmed', data:{ok, errors}}   after the warm-up writes
 *   main -> worker  {cmd:'go'}                           start the measured phase
 *   worker -> main  {cmd:'progress', data:{done, histogram?}}   every progressIntervalMs
 *   main -> worker  {cmd:'stop'}                         finish in-flight writes and return early
 *
 * With a fault schedule, `task.shared` is a SharedArrayBuffer seen by every worker and the main
 * thread (fault-window.ts): the main thread logs each change of the number of faulted followers
 * with its monotonic time, and each worker adds its completed measured writes to slot SHARED_DONE.
 * A worker puts a write in the fault window by the state at its intended time, exact even when the
 * thread runs late.
 */
import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import type { Client, Dispatcher } from 'undici';
import { TRACE_HEADER, type ClientWriteTrace } from '../contracts/trace.ts';
import { createReadEngine, type ReadEngine } from './client-reads.ts';
import {
  createReadbacks,
  type Interpret,
  type ReadbackState,
  type ReadQuorumState,
  type Readbacks,
} from './client-readback.ts';
import { createClockBridge, createTraceRing, type TraceRing } from './client-trace.ts';
import { waitUntil } from './client-wait.ts';
import { closeAll, createConnections } from './fast-client.ts';
import { createHistogram, encodeHistogram, recordUs, type Histogram } from './histogram.ts';
import { createPool, postWrite, zeroErrorCounts, type ErrorCounts, type ReadOutcome } from './http.ts';
import { createValueVersions, planVersion, type ValueVersionOf } from './value-versions.ts';
import { faultCountAt, SHARED_DONE } from './fault-window.ts';
import { clientIndices, planWrite, type Phase, type PlannedWrite, type WorkloadConfig } from './workload.ts';

export { waitUntil } from './client-wait.ts';

export { SHARED_ACTIVE_FAULTS, SHARED_DONE, SHARED_SLOTS } from './fault-window.ts';

/** A write sent within this many µs of its intended time is on time (issue 12's target). */
export const ON_TIME_US = 5000;
/** Read-back budget when the task names none: see --read-timeout in options.ts for the reasoning. */
export const DEFAULT_READ_TIMEOUT_MS = 200;
/** Open-loop writes in flight per thread when the task names no cap. */
export const DEFAULT_THREAD_IN_FLIGHT = 256;
/** Reads in flight per node and thread; beyond it a read is not sent and counts unavailable. */
export const READS_IN_FLIGHT_PER_NODE = 64;

export interface ClientTask {
  thread: number;
  /** Logical client ids run by this thread. */
  clientIds: number[];
  totalClients: number;
  leaderUrl: string;
  followerUrls: string[];
  workload: WorkloadConfig;
  /** Measured writes of the whole experiment step (all clients); this thread takes its clients' share. */
  writes: number;
  warmup: number;
  /** Total open-loop rate of all clients (writes/s); null = closed loop. */
  rate: number | null;
  /** Writes: client-side headers and body timeout. */
  requestTimeoutMs: number;
  /** Read-backs and probes: unanswered after this long = unavailable (default DEFAULT_READ_TIMEOUT_MS). */
  readTimeoutMs?: number;
  /** Open loop: writes in flight on this thread at most (default DEFAULT_THREAD_IN_FLIGHT). */
  maxInFlight?: number;
  /** --read-quorum: R values; each measured read-back also asks R random followers (R cycling through the list). */
  readQuorums?: number[];
  /** Client traces kept by this thread (newest first to survive); default 0. */
  traceCapacity?: number;
  /** Probe offsets after the ack, µs, ascending, starting at 0. */
  visibilityOffsetsUs: number[];
  progressIntervalMs: number;
  /** Send the partial latency histogram with progress (only when someone displays it). */
  progressHistogram: boolean;
  /** Fault runs: the fault-window.ts buffer (its log is read, SHARED_DONE added to); see above. */
  shared?: SharedArrayBuffer | null;
}

export type { ErrorCounts } from './http.ts';

export interface ReplicaResult {
  /** 'leader' | 'follower1'.. */
  replica: string;
  /** Answered read-backs. */
  reads: number;
  stale: number;
  /** Read-backs unanswered within the read timeout. */
  unavailable: number;
  /** Read-backs answered with no version (an http error). */
  errors: number;
  /** Ack -> read reply, µs (encoded histogram). */
  readDelay: string;
}

export interface VisibilityResult {
  probed: number;
  /** firstVisible[j] = probed writes whose followers were all fresh first at offset j. */
  firstVisible: number[];
  /** Realised (ack -> probe send) offsets per probe round, summed and counted, µs. */
  realisedSumUs: number[];
  rounds: number[];
  /** Probe reads unanswered within the read timeout. */
  unavailable: number;
}

export type WindowName = 'all' | 'fault' | 'normal';

/**
 * Measured writes by the window their intended time fell in: all, while a follower was faulted, or
 * otherwise. In closed loop the intended time is the send time.
 */
export interface WindowResult {
  /** Writes the schedule intended in this window (sent or not). */
  intended: number;
  /** Sent within ON_TIME_US of their intended time. */
  sentOnTime: number;
  /** Acknowledged, and sent on time. */
  okOnTime: number;
  ok: number;
  errors: ErrorCounts;
  /** Latency of the acknowledged ones, µs (encoded histogram). */
  latency: string;
  /** Read-back reads of this window's writes that went unanswered. */
  readsUnavailable: number;
}

/** Highest acknowledged version per key, with its value: [key, version, value]. */
export type AckedEntry = [string, number, string];

export interface ClientResult {
  thread: number;
  /** Measured write latency, µs (encoded histogram); errors are never recorded here. */
  latency: string;
  /** Open loop: actual send - intended send, µs (the harness's own scheduling lag). */
  sendLag: string;
  ok: number;
  errors: ErrorCounts;
  replicas: ReplicaResult[];
  /** staleCounts[n] = read-backs where exactly n followers were stale (all follower reads answered). */
  staleCounts: number[];
  /** Read-backs left out of staleCounts because some follower read failed or went unanswered. */
  incompleteReadbacks: number;
  visibility: VisibilityResult;
  /** Measured phase on this thread, from 'go' to its last completion. */
  elapsedMs: number;
  warmup: { ok: number; errors: number };
  stopped: boolean;
  /** 'fault' and 'normal' stay zero without a fault schedule. */
  windows: Record<WindowName, WindowResult>;
  /** Open-loop writes that waited because maxInFlight writes were in flight. */
  capWaits: number;
  /** Reads not sent because READS_IN_FLIGHT_PER_NODE were in flight to that node (counted unavailable too). */
  readsNotSent: number;
  /** For the nothing-lost check: every acknowledged write of warm-up and measurement, as the highest version per key. */
  acked: AckedEntry[];
  /** Writes (warm-up and measured) whose outcome is unknown: they may or may not have been applied. */
  unknownOutcome: number;
  /** Client-side traces of the traced writes this thread kept (oldest first). */
  traces: ClientWriteTrace[];
  /** Traced writes overwritten because the thread's ring was full. */
  tracesDropped: number;
  /** --read-quorum: per R, reads that asked R followers and kept the newest version. */
  readQuorums: ReadQuorumState[];
  /** Read answers the harness could not interpret (counted as replica read errors), with the first as an example. */
  uninterpretable: { count: number; example: string | null };
  /** Acknowledged writes whose reply carried no version (seed-API clusters): their versions come from values. */
  unversionedAcks: number;
}

export interface Message {
  cmd: string;
  data?: unknown;
}

interface WindowState {
  intended: number;
  sentOnTime: number;
  okOnTime: number;
  ok: number;
  errors: ErrorCounts;
  latency: Histogram;
  readsUnavailable: number;
}

function createWindow(): WindowState {
  return {
    intended: 0,
    sentOnTime: 0,
    okOnTime: 0,
    ok: 0,
    errors: zeroErrorCounts(),
    latency: createHistogram(),
    readsUnavailable: 0,
  };
}

function windowResult(w: WindowState): WindowResult {
  return { ...w, errors: { ...w.errors }, latency: encodeHistogram(w.latency) };
}

const TRACE_HEADERS = { [TRACE_HEADER]: '1' };

/** Everything one worker thread's clients share. */
interface Thread {
  task: ClientTask;
  shared: Int32Array | null;
  readbacks: Readbacks;
  ring: TraceRing;
  toMonoUs: (perfMs: number) => number;
  windows: Record<WindowName, WindowState>;
  latency: Histogram;
  sendLag: Histogram;
  errors: ErrorCounts;
  /** A write (k, v) is held by a node iff it stores k at version >= v, so the highest acked version per key stands for all acked writes to that key. */
  acked: Map<string, { version: number; value: string }>;
  ok: number;
  unknownOutcome: number;
  /** Acks without a version in the reply (ClientResult.unversionedAcks). */
  unversionedAcks: number;
  done: number;
  capWaits: number;
  lastAt: number;
  inFlight: number;
  capacity: number;
  slotWaiters: (() => void)[];
  /** Writes and read-backs still running, awaited before the thread returns. */
  pending: Set<Promise<unknown>>;
  stopped: boolean;
}

/**
 * The version a read shows, -1 when it failed or cannot be interpreted (counted, with a first
 * example). `byValue`: the write had no version in its reply, so the value read tells which write
 * the replica holds (value-versions.ts).
 */
function createInterpret(valueVersionOf: ValueVersionOf, uninterpretable: ClientResult['uninterpretable']): Interpret {
  const misread = (example: string): -1 => {
    if (uninterpretable.count++ === 0) uninterpretable.example = example;
    return -1;
  };
  return (r: ReadOutcome, key: string, byValue: boolean): number => {
    if (!r.ok)
      return r.unparsed === undefined
        ? -1
        : misread(`GET /read?key=${key} answered 200 with ${JSON.stringify(r.unparsed)}`);
    if (r.version === 0) return 0;
    if (!byValue)
      return r.version ?? misread(`GET /read?key=${key} answered without a version, though writes carry one`);
    const v = valueVersionOf(key, r.value);
    return (
      v ??
      misread(
        `GET /read?key=${key} answered value ${JSON.stringify(r.value).slice(0, 80)}, which no write of this step wrote`,
      )
    );
  };
}

function track(t: Thread, p: Promise<unknown>): void {
  const q = p.catch(() => undefined).finally(() => t.pending.delete(q));
  t.pending.add(q);
}

/** The fault/normal window of a write due at `intended` (performance.now() ms); null without a fault schedule. */
function windowAt(t: Thread, intended: number): WindowState | null {
  if (t.shared === null) return null;
  return faultCountAt(t.shared, t.toMonoUs(intended)) > 0 ? t.windows.fault : t.windows.normal;
}

function noteAcked(t: Thread, key: string, version: number, value: string): void {
  const prev = t.acked.get(key);
  if (prev === undefined) t.acked.set(key, { version, value });
  else if (prev.version < version) {
    prev.version = version;
    prev.value = value;
  }
}

interface Sent {
  ok: boolean;
  /** Settles once the live replicas' read-back answers are in (what a closed-loop client waits for). */
  live: Promise<void>;
}

const settled: Promise<void> = Promise.resolve();

/** Send one write, account for it, and start its read-back; measured writes are counted in `win` too. */
async function writeOnce(
  t: Thread,
  client: number,
  conn: Dispatcher,
  plan: PlannedWrite,
  intended: number,
  win: WindowState | null,
  measured: boolean,
  onTime: boolean,
): Promise<Sent> {
  const traced = measured && plan.trace;
  const sentAt = performance.now();
  const outcome = await postWrite(
    conn,
    plan.key,
    plan.value,
    t.task.requestTimeoutMs,
    traced ? TRACE_HEADERS : undefined,
  );
  const ackAt = performance.now();
  t.lastAt = Math.max(t.lastAt, ackAt);
  let trace: ClientWriteTrace | null = null;
  if (traced) {
    trace = {
      client,
      key: plan.key,
      version: outcome.ok ? outcome.version : null,
      intendedUs: t.toMonoUs(intended),
      sentUs: t.toMonoUs(sentAt),
      receivedUs: t.toMonoUs(ackAt),
      reads: [],
    };
    t.ring.push(trace);
  }
  const all = t.windows.all;
  if (measured) {
    t.done++;
    if (t.shared !== null) Atomics.add(t.shared, SHARED_DONE, 1);
  }
  if (!outcome.ok) {
    if (outcome.unknown) t.unknownOutcome++;
    if (measured) {
      t.errors[outcome.kind]++;
      all.errors[outcome.kind]++;
      if (win) win.errors[outcome.kind]++;
    }
    return { ok: false, live: settled };
  }
  // A seed-API cluster acknowledges without a version: the write's place in the seeded sequence stands in for it.
  const byValue = outcome.version === null;
  if (byValue) t.unversionedAcks++;
  const version = outcome.version ?? planVersion(t.task, measured ? 'measure' : 'warmup', plan.index);
  if (trace) trace.version = version;
  noteAcked(t, plan.key, version, plan.value);
  if (measured) {
    const us = (ackAt - intended) * 1000;
    recordUs(t.latency, us);
    t.ok++;
    for (const w of win ? [all, win] : [all]) {
      w.ok++;
      if (onTime) w.okOnTime++;
      recordUs(w.latency, us);
    }
  }
  const probe = measured && plan.visibility && t.task.visibilityOffsetsUs.length > 0;
  if (!plan.readback && !probe) return { ok: true, live: settled };
  const h = t.readbacks.start({
    key: plan.key,
    version,
    byValue,
    ackAt,
    readback: measured && plan.readback,
    visibility: probe,
    trace,
    onUnavailable: measured
      ? () => {
          all.readsUnavailable++;
          if (win) win.readsUnavailable++;
        }
      : undefined,
  });
  track(t, h.all);
  return { ok: true, live: h.live };
}

/** Count a measured write as intended (and on time or not) in its window; returns the window. */
function intend(t: Thread, intended: number, lagUs: number): { win: WindowState | null; onTime: boolean } {
  const win = windowAt(t, intended);
  const onTime = lagUs <= ON_TIME_US;
  for (const w of win ? [t.windows.all, win] : [t.windows.all]) {
    w.intended++;
    if (onTime) w.sentOnTime++;
  }
  return { win, onTime };
}

/** Open loop: write i leaves at t0 + i/rate whatever happened before; latency counts from then. */
async function runOpenClient(t: Thread, client: number, pool: Dispatcher, t0: number): Promise<void> {
  const intervalMs = 1000 / t.task.rate!;
  for (const index of clientIndices(client, t.task.totalClients, t.task.writes)) {
    if (t.stopped) break;
    const plan = planWrite(t.task.workload, 'measure', index);
    const intended = t0 + index * intervalMs;
    await waitUntil(intended);
    if (t.stopped) break;
    if (t.inFlight >= t.capacity) {
      t.capWaits++;
      while (t.inFlight >= t.capacity) await new Promise<void>((r) => t.slotWaiters.push(r));
    }
    const lagUs = (performance.now() - intended) * 1000;
    recordUs(t.sendLag, lagUs);
    const { win, onTime } = intend(t, intended, lagUs);
    t.inFlight++;
    const sent = writeOnce(t, client, pool, plan, intended, win, true, onTime).finally(() => {
      t.inFlight--;
      t.slotWaiters.shift()?.();
    });
    track(t, sent);
  }
}

/** Closed loop: a client waits for its own write and for the read-back of the live replicas only. */
async function runClosedClient(
  t: Thread,
  client: number,
  conn: Client,
  phase: Phase,
  total: number,
): Promise<{ ok: number; errors: number }> {
  const measured = phase === 'measure';
  let ok = 0;
  let errors = 0;
  for (const index of clientIndices(client, t.task.totalClients, total)) {
    if (t.stopped) break;
    const plan = planWrite(t.task.workload, phase, index);
    const intended = performance.now();
    const { win } = measured ? intend(t, intended, 0) : { win: null };
    const sent = await writeOnce(t, client, conn, plan, intended, win, measured, true);
    if (sent.ok) ok++;
    else errors++;
    await sent.live;
  }
  return { ok, errors };
}

function createThread(
  task: ClientTask,
  readbacks: Readbacks,
  ring: TraceRing,
  toMonoUs: (ms: number) => number,
): Thread {
  return {
    task,
    shared: task.shared ? new Int32Array(task.shared) : null,
    readbacks,
    ring,
    toMonoUs,
    windows: { all: createWindow(), fault: createWindow(), normal: createWindow() },
    latency: createHistogram(),
    sendLag: createHistogram(),
    errors: zeroErrorCounts(),
    acked: new Map(),
    ok: 0,
    unknownOutcome: 0,
    unversionedAcks: 0,
    done: 0,
    capWaits: 0,
    lastAt: 0,
    inFlight: 0,
    capacity: Math.max(1, task.maxInFlight ?? DEFAULT_THREAD_IN_FLIGHT),
    slotWaiters: [],
    pending: new Set(),
    stopped: false,
  };
}

function replicaResults(state: ReadbackState): ReplicaResult[] {
  return state.replicas.map((s, node) => ({
    replica: node === 0 ? 'leader' : `follower${node}`,
    reads: s.reads,
    stale: s.stale,
    unavailable: s.unavailable,
    errors: s.errors,
    readDelay: encodeHistogram(s.delay),
  }));
}

/** Waits until every write and read-back of the thread has settled (they may start more while we wait). */
async function drain(t: Thread): Promise<void> {
  while (t.pending.size > 0) await Promise.all([...t.pending]);
}

/** Progress messages to the main thread while the measured phase runs. */
function startProgress(port: MessagePort, task: ClientTask, t: Thread): NodeJS.Timeout {
  const timer = setInterval(() => {
    port.postMessage({
      cmd: 'progress',
      data: { done: t.done, histogram: task.progressHistogram ? encodeHistogram(t.latency) : undefined },
    } satisfies Message);
  }, task.progressIntervalMs);
  timer.unref();
  return timer;
}

/** What a thread hands back to the main thread at the end of its task. */
function threadResult(
  task: ClientTask,
  t: Thread,
  rb: ReadbackState,
  x: {
    engine: ReadEngine;
    warm: { ok: number; errors: number };
    t0: number;
    uninterpretable: ClientResult['uninterpretable'];
  },
): ClientResult {
  const { engine, warm, t0, uninterpretable } = x;
  return {
    thread: task.thread,
    latency: encodeHistogram(t.latency),
    sendLag: encodeHistogram(t.sendLag),
    ok: t.ok,
    errors: t.errors,
    replicas: replicaResults(rb),
    staleCounts: rb.staleCounts,
    incompleteReadbacks: rb.incompleteReadbacks,
    visibility: rb.visibility,
    elapsedMs: t.lastAt - t0,
    warmup: warm,
    stopped: t.stopped,
    windows: {
      all: windowResult(t.windows.all),
      fault: windowResult(t.windows.fault),
      normal: windowResult(t.windows.normal),
    },
    capWaits: t.capWaits,
    readsNotSent: engine.notSent().reduce((a, n) => a + n, 0),
    acked: [...t.acked].map(([key, e]): AckedEntry => [key, e.version, e.value]),
    unknownOutcome: t.unknownOutcome,
    traces: t.ring.list(),
    tracesDropped: t.ring.dropped(),
    readQuorums: rb.readQuorums,
    uninterpretable,
    unversionedAcks: t.unversionedAcks,
  };
}

export async function runClients(task: ClientTask, port?: MessagePort): Promise<ClientResult> {
  const nodeUrls = [task.leaderUrl, ...task.followerUrls];
  // Closed loop: one keep-alive connection per logical client (one write in flight each). Open loop:
  // one pool, so a write never queues behind a slow earlier one (up to maxInFlight connections).
  const conns: Client[] = createConnections(task.leaderUrl, task.clientIds.length, {
    timeoutMs: task.requestTimeoutMs,
  });
  const slotOf = new Map(task.clientIds.map((c, slot) => [c, slot]));
  const engine = createReadEngine(nodeUrls, {
    timeoutMs: task.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS,
    capPerNode: READS_IN_FLIGHT_PER_NODE,
  });
  const toMonoUs = createClockBridge();
  let t!: Thread;
  const uninterpretable: ClientResult['uninterpretable'] = { count: 0, example: null };
  const interpret = createInterpret(
    createValueVersions({ workload: task.workload, warmup: task.warmup, writes: task.writes }),
    uninterpretable,
  );
  const readbacks = createReadbacks({
    nodes: nodeUrls.length,
    interpret,
    readQuorums: task.readQuorums,
    offsetsUs: task.visibilityOffsetsUs,
    engine,
    toMonoUs,
    stopped: () => t.stopped,
  });
  t = createThread(task, readbacks, createTraceRing(task.traceCapacity ?? 0), toMonoUs);
  const openPool = task.rate
    ? createPool(task.leaderUrl, { connections: t.capacity, timeoutMs: task.requestTimeoutMs })
    : null;
  let go: (() => void) | null = null;
  const goSignal = new Promise<void>((resolve) => (go = resolve));
  const onMessage = (msg: Message): void => {
    if (msg.cmd === 'go') go?.();
    else if (msg.cmd === 'stop') {
      t.stopped = true;
      go?.();
    }
  };
  port?.on('message', onMessage);

  const closedPhase = async (phase: Phase, total: number): Promise<{ ok: number; errors: number }> => {
    const rs = await Promise.all(
      task.clientIds.map((c) => runClosedClient(t, c, conns[slotOf.get(c)!]!, phase, total)),
    );
    return { ok: rs.reduce((a, r) => a + r.ok, 0), errors: rs.reduce((a, r) => a + r.errors, 0) };
  };

  let progressTimer: NodeJS.Timeout | undefined;
  try {
    const warm = task.warmup > 0 ? await closedPhase('warmup', task.warmup) : { ok: 0, errors: 0 };
    await drain(t);
    if (port) {
      port.postMessage({ cmd: 'warmed', data: { ok: warm.ok, errors: warm.errors } } satisfies Message);
      await goSignal;
    }
    if (port && task.progressIntervalMs > 0) progressTimer = startProgress(port, task, t);
    const t0 = performance.now();
    t.lastAt = t0;
    if (openPool) await Promise.all(task.clientIds.map((c) => runOpenClient(t, c, openPool, t0)));
    else await closedPhase('measure', task.writes);
    await drain(t);
    return threadResult(task, t, readbacks.state, { engine, warm, t0, uninterpretable });
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    port?.off('message', onMessage);
    await drain(t);
    // The task resolves only once every connection is closed.
    await Promise.all([closeAll(openPool ? [...conns, openPool] : conns), engine.close()]);
  }
}
