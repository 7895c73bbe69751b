/**
 * The logical clients of one worker thread: warm-up, a barrier with the main thread, then the
 * measured writes with read-back and visibility probes. Runs inside a piscina worker
 * (client-worker.ts) but has no piscina dependency, so tests can run it on the main thread.
 *
 * Main-thread protocol on the task's MessagePort, messages `{cmd, data}`:
 *   worker -> main  {cmd:'warmed', data:{ok, errors}}   after the warm-up writes
 *   main -> worker  {cmd:'go'}                           start the measured phase
 *   worker -> main  {cmd:'progress', data:{done, histogram?}}   every progressIntervalMs
 *   main -> worker  {cmd:'stop'}                         finish in-flight writes and return early
 *
 * With a fault schedule, `task.shared` is a SharedArrayBuffer seen by every worker and the main
 * thread: the main thread keeps the number of faulted followers in slot SHARED_ACTIVE_FAULTS, and
 * each worker adds its completed measured writes to slot SHARED_DONE. An atomic load per write is
 * far cheaper than a message, and exact about which side of a fault's start a write was sent on.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import type { MessagePort } from 'node:worker_threads';
import type { Client, Pool } from 'undici';
import { closeAll, createConnections } from './fast-client.ts';
import { createHistogram, encodeHistogram, recordUs, type Histogram } from './histogram.ts';
import { createPool, postWrite, readKey, type ErrorKind, type ReadOutcome } from './http.ts';
import { createValueVersions, planVersion } from './value-versions.ts';
import { clientIndices, planWrite, type Phase, type PlannedWrite, type WorkloadConfig } from './workload.ts';

/** Int32 slots of ClientTask.shared. */
export const SHARED_ACTIVE_FAULTS = 0;
export const SHARED_DONE = 1;
export const SHARED_SLOTS = 2;

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
  requestTimeoutMs: number;
  /** Probe offsets after the ack, µs, ascending, starting at 0. */
  visibilityOffsetsUs: number[];
  progressIntervalMs: number;
  /** Send the partial latency histogram with progress (only when someone displays it). */
  progressHistogram: boolean;
  /** Fault runs: Int32 slots SHARED_ACTIVE_FAULTS (read) and SHARED_DONE (added to); see above. */
  shared?: SharedArrayBuffer | null;
}

export type ErrorCounts = Record<ErrorKind, number>;

export interface ReplicaResult {
  /** 'leader' | 'follower1'.. */
  replica: string;
  reads: number;
  stale: number;
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
}

/** Measured writes sent while at least one follower was faulted. */
export interface FaultWindowResult {
  ok: number;
  errors: ErrorCounts;
  /** Latency of the successful ones, µs (encoded histogram). */
  latency: string;
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
  /** Read-backs left out of staleCounts because some follower read failed. */
  incompleteReadbacks: number;
  visibility: VisibilityResult;
  /** Measured phase on this thread, from 'go' to its last completion. */
  elapsedMs: number;
  warmup: { ok: number; errors: number };
  stopped: boolean;
  faultWindow: FaultWindowResult;
  /** For the nothing-lost check: every acknowledged write of warm-up and measurement, as the highest version per key. */
  acked: AckedEntry[];
  /** Writes (warm-up and measured) whose outcome is unknown: they may or may not have been applied. */
  unknownOutcome: number;
  /** Read answers the harness could not interpret (counted as replica read errors), with the first as an example. */
  uninterpretable: { count: number; example: string | null };
}

export interface Message {
  cmd: string;
  data?: unknown;
}

interface ReplicaState {
  reads: number;
  stale: number;
  errors: number;
  delay: Histogram;
}

interface ReadReply {
  ok: boolean;
  version: number;
  replyAt: number;
}

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

export async function runClients(task: ClientTask, port?: MessagePort): Promise<ClientResult> {
  const nodeUrls = [task.leaderUrl, ...task.followerUrls];
  const perNode = task.clientIds.length;
  // One keep-alive connection per logical client and node (conns[node][slot]): a logical client is a
  // closed loop with at most one write or read-back in flight per node, so it needs no pool.
  const conns: Client[][] = nodeUrls.map((url) => createConnections(url, perNode, { timeoutMs: task.requestTimeoutMs }));
  const slotOf = new Map(task.clientIds.map((c, slot) => [c, slot]));
  const followerCount = task.followerUrls.length;

  const latency = createHistogram();
  const sendLag = createHistogram();
  const errors: ErrorCounts = { quorum: 0, http: 0, timeout: 0, connection: 0 };
  const replicas: ReplicaState[] = nodeUrls.map(() => ({ reads: 0, stale: 0, errors: 0, delay: createHistogram() }));
  const staleCounts = new Array<number>(followerCount + 1).fill(0);
  const offsets = task.visibilityOffsetsUs;
  const visibility: VisibilityResult = {
    probed: 0,
    firstVisible: offsets.map(() => 0),
    realisedSumUs: offsets.map(() => 0),
    rounds: offsets.map(() => 0),
  };
  const shared = task.shared ? new Int32Array(task.shared) : null;
  const faultLatency = createHistogram();
  const faultErrors: ErrorCounts = { quorum: 0, http: 0, timeout: 0, connection: 0 };
  let faultOk = 0;
  // A write (k, v) is held by a node iff it stores k at version >= v, so the highest acked version
  // per key stands for all acked writes to that key.
  const acked = new Map<string, { version: number; value: string }>();
  let unknownOutcome = 0;
  const uninterpretable: ClientResult['uninterpretable'] = { count: 0, example: null };
  const valueVersionOf = createValueVersions({ workload: task.workload, warmup: task.warmup, writes: task.writes });
  let ok = 0;
  let incompleteReadbacks = 0;
  let readbackSeq = 0;
  let done = 0;
  let stopped = false;
  let go: (() => void) | null = null;
  const goSignal = new Promise<void>((resolve) => (go = resolve));

  const onMessage = (msg: Message): void => {
    if (msg.cmd === 'go') go?.();
    else if (msg.cmd === 'stop') {
      stopped = true;
      go?.();
    }
  };
  port?.on('message', onMessage);

  const misread = (example: string): -1 => {
    if (uninterpretable.count++ === 0) uninterpretable.example = example;
    return -1;
  };
  /**
   * The version a read shows, -1 when it failed or cannot be interpreted. `byValue`: the write had no
   * version in its reply, so the value read tells which write the replica holds (value-versions.ts).
   */
  const versionOf = (r: ReadOutcome, key: string, byValue: boolean): number => {
    if (!r.ok) return r.unparsed === undefined ? -1 : misread(`GET /read?key=${key} answered 200 with ${JSON.stringify(r.unparsed)}`);
    if (r.version === 0) return 0;
    if (!byValue) return r.version ?? misread(`GET /read?key=${key} answered without a version, though writes carry one`);
    const v = valueVersionOf(key, r.value);
    return v ?? misread(`GET /read?key=${key} answered value ${JSON.stringify(r.value).slice(0, 80)}, which no write of this step wrote`);
  };
  const read = async (node: number, slot: number, key: string, byValue: boolean): Promise<ReadReply> => {
    const r = await readKey(conns[node]![slot]!, key, task.requestTimeoutMs);
    const version = versionOf(r, key, byValue);
    return { ok: version >= 0, version, replyAt: performance.now() };
  };

  // Visibility probes get their own pools: rounds overlap in flight and must not queue behind each other.
  const probePools: Pool[] =
    offsets.length > 0
      ? task.followerUrls.map((url) => createPool(url, { connections: perNode * 4, timeoutMs: task.requestTimeoutMs }))
      : [];

  /**
   * t-visibility of one write. Round j reads, at ack + offsets[j], every follower not yet known fresh,
   * without waiting for earlier rounds (a round trip is longer than the first offsets, so waiting would
   * push every later round far past its nominal offset). Round 0 is the read-back itself. A follower's
   * version never decreases, so the write is fully visible from round max_k(first fresh round of k) on.
   */
  const probe = async (key: string, version: number, byValue: boolean, ackAt: number, round0At: number, round0: Promise<ReadReply[]>): Promise<void> => {
    const firstFresh = task.followerUrls.map(() => Infinity);
    let visibleFrom = Infinity;
    const note = (follower: number, round: number, r: ReadReply): void => {
      if (r.ok && r.version >= version && round < firstFresh[follower]!) firstFresh[follower] = round;
      visibleFrom = Math.min(visibleFrom, Math.max(...firstFresh));
    };
    const rounds: Promise<void>[] = [round0.then((replies) => replies.slice(1).forEach((r, k) => note(k, 0, r)))];
    visibility.realisedSumUs[0]! += (round0At - ackAt) * 1000;
    visibility.rounds[0]!++;
    const known = (): boolean => visibleFrom < Infinity || stopped;
    for (let j = 1; j < offsets.length && !known(); j++) {
      await waitUntil(ackAt + offsets[j]! / 1000, known);
      if (known()) break;
      const targets = firstFresh.flatMap((f, k) => (f === Infinity ? [k] : []));
      visibility.realisedSumUs[j]! += (performance.now() - ackAt) * 1000;
      visibility.rounds[j]!++;
      rounds.push(
        Promise.all(
          targets.map(async (k) => {
            const v = versionOf(await readKey(probePools[k]!, key, task.requestTimeoutMs), key, byValue);
            note(k, j, { ok: v >= 0, version: v, replyAt: performance.now() });
          }),
        ).then(() => undefined),
      );
    }
    await Promise.all(rounds);
    visibility.probed++;
    if (visibleFrom < Infinity) visibility.firstVisible[visibleFrom]!++;
  };

  /** Read-back and visibility probes of one acked write. */
  const afterAck = async (slot: number, plan: PlannedWrite, version: number, byValue: boolean, ackAt: number, measured: boolean): Promise<void> => {
    const probeVisibility = measured && plan.visibility && offsets.length > 0;
    if (!plan.readback && !probeVisibility) return;
    const sentAt = performance.now();
    // Requests leave in the order they are issued, so a fixed order would make the first replica
    // systematically the earliest-read (and most stale); rotating the first replica spreads that evenly.
    const first = readbackSeq++ % nodeUrls.length;
    const reads = new Array<Promise<ReadReply>>(nodeUrls.length);
    for (let i = 0; i < nodeUrls.length; i++) {
      const node = (first + i) % nodeUrls.length;
      reads[node] = read(node, slot, plan.key, byValue);
    }
    const readback = Promise.all(reads);
    const probing = probeVisibility ? probe(plan.key, version, byValue, ackAt, sentAt, readback) : null;
    const replies = await readback;
    if (measured && plan.readback) {
      let staleFollowers = 0;
      let complete = true;
      replies.forEach((r, node) => {
        const s = replicas[node]!;
        if (!r.ok) {
          s.errors++;
          if (node > 0) complete = false;
          return;
        }
        s.reads++;
        recordUs(s.delay, (r.replyAt - ackAt) * 1000);
        if (r.version < version) {
          s.stale++;
          if (node > 0) staleFollowers++;
        }
      });
      if (complete) staleCounts[staleFollowers]!++;
      else incompleteReadbacks++;
    }
    await probing;
  };

  const runClient = async (client: number, phase: Phase, total: number, t0: number): Promise<{ ok: number; errors: number; lastAt: number }> => {
    const measured = phase === 'measure';
    const slot = slotOf.get(client)!;
    const leaderConn = conns[0]![slot]!;
    const intervalMs = task.rate ? 1000 / task.rate : 0;
    let okCount = 0;
    let errCount = 0;
    let lastAt = t0;
    for (const index of clientIndices(client, task.totalClients, total)) {
      if (stopped) break;
      const plan = planWrite(task.workload, phase, index);
      let intended: number;
      if (measured && task.rate) {
        // Open loop: write i is due at t0 + i/rate whatever happened before; latency counts from then.
        intended = t0 + index * intervalMs;
        await waitUntil(intended);
        recordUs(sendLag, (performance.now() - intended) * 1000);
      } else {
        intended = performance.now();
      }
      const inFault = measured && shared !== null && Atomics.load(shared, SHARED_ACTIVE_FAULTS) > 0;
      const outcome = await postWrite(leaderConn, plan.key, plan.value, task.requestTimeoutMs);
      const ackAt = performance.now();
      lastAt = ackAt;
      if (outcome.ok) {
        okCount++;
        const byValue = outcome.version === null;
        const version = outcome.version ?? planVersion(task, phase, index);
        const prev = acked.get(plan.key);
        if (prev === undefined) acked.set(plan.key, { version, value: plan.value });
        else if (prev.version < version) {
          prev.version = version;
          prev.value = plan.value;
        }
        if (measured) {
          const us = (ackAt - intended) * 1000;
          recordUs(latency, us);
          ok++;
          if (inFault) {
            recordUs(faultLatency, us);
            faultOk++;
          }
        }
        await afterAck(slot, plan, version, byValue, ackAt, measured);
      } else {
        errCount++;
        if (outcome.unknown) unknownOutcome++;
        if (measured) {
          errors[outcome.kind]++;
          if (inFault) faultErrors[outcome.kind]++;
        }
      }
      if (measured) {
        done++;
        if (shared !== null) Atomics.add(shared, SHARED_DONE, 1);
      }
    }
    return { ok: okCount, errors: errCount, lastAt };
  };

  const runPhase = async (phase: Phase, total: number): Promise<{ ok: number; errors: number; t0: number; lastAt: number }> => {
    const t0 = performance.now();
    const results = await Promise.all(task.clientIds.map((c) => runClient(c, phase, total, t0)));
    return {
      ok: results.reduce((a, r) => a + r.ok, 0),
      errors: results.reduce((a, r) => a + r.errors, 0),
      t0,
      lastAt: Math.max(t0, ...results.map((r) => r.lastAt)),
    };
  };

  let progressTimer: NodeJS.Timeout | undefined;
  try {
    const warm = task.warmup > 0 ? await runPhase('warmup', task.warmup) : { ok: 0, errors: 0 };
    if (port) {
      port.postMessage({ cmd: 'warmed', data: { ok: warm.ok, errors: warm.errors } } satisfies Message);
      await goSignal;
    }
    if (port && task.progressIntervalMs > 0) {
      progressTimer = setInterval(() => {
        port.postMessage({
          cmd: 'progress',
          data: { done, histogram: task.progressHistogram ? encodeHistogram(latency) : undefined },
        } satisfies Message);
      }, task.progressIntervalMs);
      progressTimer.unref();
    }
    const measure = await runPhase('measure', task.writes);
    return {
      thread: task.thread,
      latency: encodeHistogram(latency),
      sendLag: encodeHistogram(sendLag),
      ok,
      errors,
      replicas: replicas.map((s, node) => ({
        replica: node === 0 ? 'leader' : `follower${node}`,
        reads: s.reads,
        stale: s.stale,
        errors: s.errors,
        readDelay: encodeHistogram(s.delay),
      })),
      staleCounts,
      incompleteReadbacks,
      visibility,
      elapsedMs: measure.lastAt - measure.t0,
      warmup: { ok: warm.ok, errors: warm.errors },
      stopped,
      faultWindow: { ok: faultOk, errors: faultErrors, latency: encodeHistogram(faultLatency) },
      acked: [...acked].map(([key, e]): AckedEntry => [key, e.version, e.value]),
      unknownOutcome,
      uninterpretable,
    };
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    port?.off('message', onMessage);
    // The task resolves only once every connection is closed.
    await closeAll([...conns.flat(), ...probePools]);
  }
}
