/**
 * Read-backs and visibility probes of acknowledged writes, and their accounting, for one worker
 * thread. Reads go through the thread's ReadEngine (own pools, own budget), so none of them ever
 * holds a write: open-loop clients do not wait for them at all, and closed-loop clients wait only
 * for replicas that answered their last read (a replica found unavailable is still read, and
 * counted, but no longer waited for, until it answers again).
 */
import type { ClientReadTrace, ClientWriteTrace } from '../contracts/trace.ts';
import type { ReadEngine, TimedRead } from './client-reads.ts';
import type { ReadOutcome } from './http.ts';
import { waitUntil } from './client-wait.ts';
import { createHistogram, recordUs, type Histogram } from './histogram.ts';

export interface ReplicaState {
  /** Answered read-backs. */
  reads: number;
  stale: number;
  /** Read-backs unanswered within the read timeout (or not sent: too many in flight). */
  unavailable: number;
  /** Read-backs answered with something that is not a version. */
  errors: number;
  /** Ack -> read reply, µs. */
  delay: Histogram;
}

export interface VisibilityState {
  probed: number;
  /** firstVisible[j] = probed writes whose followers were all fresh first at offset j. */
  firstVisible: number[];
  /** Realised (ack -> probe send) offsets per probe round, summed and counted, µs. */
  realisedSumUs: number[];
  rounds: number[];
  /** Probe reads (rounds >= 1) unanswered within the read timeout. */
  unavailable: number;
}

/** Reads that asked R followers and kept the newest version (--read-quorum). */
export interface ReadQuorumState {
  readQuorum: number;
  reads: number;
  stale: number;
  unavailable: number;
}

export interface ReadbackState {
  /** One per --read-quorum R, in the order given. */
  readQuorums: ReadQuorumState[];
  replicas: ReplicaState[];
  /** staleCounts[n] = read-backs where exactly n followers were stale (every follower answered). */
  staleCounts: number[];
  /** Read-backs left out of staleCounts because some follower did not answer with a version. */
  incompleteReadbacks: number;
  visibility: VisibilityState;
}

/** One acked write to read back. */
export interface AckedWrite {
  key: string;
  version: number;
  /** The write's reply had no version: reads are judged by value (value-versions.ts). */
  byValue: boolean;
  /** performance.now() of the ack, ms. */
  ackAt: number;
  readback: boolean;
  visibility: boolean;
  /** The write's trace, when traced: its reads are appended as they settle. */
  trace: ClientWriteTrace | null;
  /** Called once per unavailable read-back read (the caller counts it in the write's window). */
  onUnavailable?: () => void;
}

export interface ReadbackHandle {
  /** Settles once the replicas that answered their last read have answered this one (closed loop waits for it). */
  live: Promise<void>;
  /** Settles once every read and probe of this write has settled. */
  all: Promise<void>;
}

export interface Readbacks {
  state: ReadbackState;
  start(w: AckedWrite): ReadbackHandle;
}

/** The version a read answer shows; -1 when it cannot be interpreted (the caller counts and logs it). */
export type Interpret = (reply: ReadOutcome, key: string, byValue: boolean) => number;

/** A settled read: answered with a version, unavailable (no answer in time), or an error (an answer with no version). */
interface Judged extends TimedRead {
  outcome: 'answered' | 'unavailable' | 'error';
  /** Answered: the version (0 = not found); otherwise -1. */
  version: number;
}

export interface ReadbacksOptions {
  nodes: number;
  /** R values of --read-quorum; write i of the thread asks R = readQuorums[i mod length] followers. */
  readQuorums?: readonly number[];
  interpret: Interpret;
  offsetsUs: readonly number[];
  engine: ReadEngine;
  toMonoUs: (perfMs: number) => number;
  stopped: () => boolean;
}

const replicaName = (node: number): string => (node === 0 ? 'leader' : `follower${node}`);

function emptyState(o: ReadbacksOptions): ReadbackState {
  return {
    readQuorums: (o.readQuorums ?? []).map((readQuorum) => ({ readQuorum, reads: 0, stale: 0, unavailable: 0 })),
    replicas: Array.from({ length: o.nodes }, () => ({
      reads: 0,
      stale: 0,
      unavailable: 0,
      errors: 0,
      delay: createHistogram(),
    })),
    staleCounts: new Array<number>(o.nodes).fill(0),
    incompleteReadbacks: 0,
    visibility: {
      probed: 0,
      firstVisible: o.offsetsUs.map(() => 0),
      realisedSumUs: o.offsetsUs.map(() => 0),
      rounds: o.offsetsUs.map(() => 0),
      unavailable: 0,
    },
  };
}

function judge(o: ReadbacksOptions, r: TimedRead, w: AckedWrite): Judged {
  if (r.reply === null) return { ...r, outcome: 'unavailable', version: -1 };
  const version = o.interpret(r.reply, w.key, w.byValue);
  return { ...r, outcome: version >= 0 ? 'answered' : 'error', version };
}

function traceRead(o: ReadbacksOptions, w: AckedWrite, node: number, r: Judged): void {
  if (!w.trace) return;
  const outcome: ClientReadTrace['outcome'] =
    r.outcome === 'answered'
      ? r.version < w.version
        ? 'stale'
        : 'fresh'
      : r.outcome === 'unavailable'
        ? 'unavailable'
        : 'error';
  w.trace.reads.push({
    replica: replicaName(node),
    sentUs: o.toMonoUs(r.sentMs),
    servedUs: r.servedUs,
    receivedUs: o.toMonoUs(r.receivedMs),
    version: r.outcome === 'answered' ? r.version : null,
    outcome,
  });
}

/** One replica's answer to the read-back, into that replica's counts. */
function count(state: ReadbackState, w: AckedWrite, node: number, r: Judged): void {
  const s = state.replicas[node]!;
  if (r.outcome === 'unavailable') {
    s.unavailable++;
    w.onUnavailable?.();
    return;
  }
  if (r.outcome === 'error') {
    s.errors++;
    return;
  }
  s.reads++;
  recordUs(s.delay, (r.receivedMs - w.ackAt) * 1000);
  if (r.version < w.version) s.stale++;
}

/** How many followers were stale for this write; a read-back with a missing answer counts as incomplete. */
function tally(state: ReadbackState, w: AckedWrite, replies: readonly Judged[]): void {
  let staleFollowers = 0;
  for (let node = 1; node < replies.length; node++) {
    const r = replies[node]!;
    if (r.outcome !== 'answered') {
      state.incompleteReadbacks++;
      return;
    }
    if (r.version < w.version) staleFollowers++;
  }
  state.staleCounts[staleFollowers]!++;
}

/** One R-read per call: R distinct random followers, newest version kept; any missing answer makes it unavailable. */
function createQuorumReader(o: ReadbacksOptions, state: ReadbackState): (w: AckedWrite) => Promise<void> {
  let rqSeq = 0;
  return async (w) => {
    const q = state.readQuorums[rqSeq++ % state.readQuorums.length]!;
    const followers = Array.from({ length: o.nodes - 1 }, (_, k) => k + 1);
    for (let i = followers.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [followers[i], followers[j]] = [followers[j]!, followers[i]!];
    }
    const replies = await Promise.all(
      followers.slice(0, q.readQuorum).map(async (node) => judge(o, await o.engine.read(node, w.key, false), w)),
    );
    if (replies.some((r) => r.outcome !== 'answered')) {
      q.unavailable++;
      return;
    }
    q.reads++;
    if (Math.max(...replies.map((r) => r.version)) < w.version) q.stale++;
  };
}

/**
 * t-visibility of one write. Round j reads, at ack + offsets[j], every follower not yet known fresh,
 * without waiting for earlier rounds (a round trip is longer than the first offsets, so waiting would
 * push every later round far past its nominal offset). Round 0 is the read-back itself. A follower's
 * version never decreases, so the write is fully visible from round max_k(first fresh round of k) on.
 */
async function probe(
  o: ReadbacksOptions,
  v: ReadbackState['visibility'],
  w: AckedWrite,
  round0At: number,
  round0: Promise<Judged[]>,
): Promise<void> {
  const offsets = o.offsetsUs;
  const firstFresh = new Array<number>(o.nodes - 1).fill(Infinity);
  let visibleFrom = Infinity;
  const note = (follower: number, round: number, r: Judged): void => {
    if (r.outcome === 'answered' && r.version >= w.version && round < firstFresh[follower]!)
      firstFresh[follower] = round;
    visibleFrom = Math.min(visibleFrom, Math.max(...firstFresh));
  };
  const rounds: Promise<void>[] = [round0.then((replies) => replies.slice(1).forEach((r, k) => note(k, 0, r)))];
  v.realisedSumUs[0]! += (round0At - w.ackAt) * 1000;
  v.rounds[0]!++;
  const known = (): boolean => visibleFrom < Infinity || o.stopped();
  for (let j = 1; j < offsets.length && !known(); j++) {
    await waitUntil(w.ackAt + offsets[j]! / 1000, known);
    if (known()) break;
    const targets = firstFresh.flatMap((f, k) => (f === Infinity ? [k] : []));
    v.realisedSumUs[j]! += (performance.now() - w.ackAt) * 1000;
    v.rounds[j]!++;
    const round = targets.map(async (k) => {
      const r = judge(o, await o.engine.read(k + 1, w.key, false), w);
      if (r.outcome === 'unavailable') v.unavailable++;
      note(k, j, r);
    });
    rounds.push(Promise.all(round).then(() => undefined));
  }
  await Promise.all(rounds);
  v.probed++;
  if (visibleFrom < Infinity) v.firstVisible[visibleFrom]!++;
}

export function createReadbacks(o: ReadbacksOptions): Readbacks {
  const state = emptyState(o);
  const suspect = new Array<boolean>(o.nodes).fill(false);
  const quorumRead = createQuorumReader(o, state);
  let seq = 0;

  /** Round 0: every replica read once, in rotating order; `live` settles when the awaited ones answered. */
  const readAll = (w: AckedWrite): { live: Promise<void>; readback: Promise<Judged[]> } => {
    // Requests leave in the order they are issued, so a fixed order would make the first replica
    // systematically the earliest-read (and most stale); rotating the first replica spreads that evenly.
    const first = seq++ % o.nodes;
    const replies = new Array<Judged>(o.nodes);
    let left = o.nodes;
    let liveLeft = 0;
    let liveDone!: () => void;
    let allDone!: (replies: Judged[]) => void;
    const live = new Promise<void>((resolve) => (liveDone = resolve));
    const readback = new Promise<Judged[]>((resolve) => (allDone = resolve));
    for (let i = 0; i < o.nodes; i++) {
      const node = (first + i) % o.nodes;
      const waited = !suspect[node];
      if (waited) liveLeft++;
      // Callbacks, not a promise per read: the engine never calls back synchronously, so the
      // counts above are complete before the first answer.
      o.engine.readThen(node, w.key, w.trace !== null, (raw) => {
        const r = judge(o, raw, w);
        suspect[node] = r.outcome === 'unavailable';
        if (w.readback) count(state, w, node, r);
        traceRead(o, w, node, r);
        replies[node] = r;
        if (waited && --liveLeft === 0) liveDone();
        if (--left > 0) return;
        if (w.readback) tally(state, w, replies);
        allDone(replies);
      });
    }
    if (liveLeft === 0) liveDone();
    return { live, readback };
  };

  const start = (w: AckedWrite): ReadbackHandle => {
    const sentAt = performance.now();
    const { live, readback } = readAll(w);
    const probing = w.visibility && o.offsetsUs.length > 0;
    const quorum = w.readback && state.readQuorums.length > 0;
    if (!probing && !quorum) return { live, all: readback.then(() => undefined) };
    const all = Promise.all([
      readback,
      probing ? probe(o, state.visibility, w, sentAt, readback) : undefined,
      quorum ? quorumRead(w) : undefined,
    ]).then(() => undefined);
    return { live, all };
  };

  return { state, start };
}
