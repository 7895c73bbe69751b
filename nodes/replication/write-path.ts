/**
 * The leader's write path on its main thread: validate, assign a version and apply locally in
 * one synchronous step, draw one delay per follower, hand the write to the replication thread
 * (payload serialised once), count the acks as they come back, and answer 200 at W acks or 503.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monotonicUs, type LeaderLegTrace, type LeaderWriteTrace } from '../../contracts/trace.ts';
import type { Rng } from '../../lib/rng.ts';
import { HttpError, assertValueDepth, isPlainObject, readJsonBody, sendError, sendJsonText } from '../http-util.ts';
import type { VersionedStore } from '../store.ts';
import type { TraceRing } from '../trace-ring.ts';
import { isTraced } from '../trace-ring.ts';
import type { ReplicationEngine } from './engine.ts';
import { entryJson } from './follower-apply.ts';
import type { Followers } from './followers.ts';
import type { LeaderStats } from './leader-stats.ts';
import { ACKED, FAILED, RECEIVED, SKIPPED, type LegResult } from './protocol.ts';

const NOT_ROLLED_BACK = 'leader and acked followers; not rolled back';
const NOT_APPLIED = 'nothing: no version assigned, not applied anywhere';

/** One client write: waiting for its quorum, then for its remaining legs. */
interface PendingWrite {
  res: ServerResponse;
  /** JSON texts of the key and the value, reused for the replication message and the answer. */
  keyJson: string;
  valueJson: string;
  version: number;
  quorum: number;
  acks: number;
  failed: number;
  done: boolean;
  startMs: number;
  timer: NodeJS.Timeout | undefined;
  /** Version assigned (main thread), and taken in by the replication thread (NaN until known): delays count from the latter. */
  scheduledNs: number;
  receivedNs: number;
  delaysUs: number[];
  /** Follower generation when the leg was scheduled: a failure from before a catch-up is covered by it. */
  generations: number[];
  legsLeft: number;
  trace: LeaderWriteTrace | undefined;
}

export interface WritePathOptions {
  store: VersionedStore;
  followers: Followers;
  engine: ReplicationEngine;
  stats: LeaderStats;
  rng: Rng;
  minDelayUs: number;
  spanDelayUs: number;
  quorumTimeoutMs: number;
  bodyLimitBytes: number;
  replicationBodyLimitBytes: number;
  quorum(): number;
  traces: TraceRing<LeaderWriteTrace>;
  /** Test hook: runs on the main thread right after a write was handed to the replication thread. */
  afterSchedule?: () => void;
}

export type WritePath = ReturnType<typeof createWritePath>;

/** The write handler and the result sink of the replication thread, sharing the writes in flight. */
export function createWritePath(o: WritePathOptions) {
  const writes = new Map<number, PendingWrite>();
  const acks = createAckCounter(o, writes);
  let version = 0;

  /** Draw every follower's delay (down or not, so one outage does not shift the others') and hand the write over. */
  function replicate(w: PendingWrite, payload: string): void {
    const { followers } = o;
    for (let i = 0; i < followers.size; i++) {
      const delayUs = o.minDelayUs + o.rng.next() * o.spanDelayUs;
      if (w.trace) w.trace.legs.push(newLeg(delayUs, o.engine.epochUs + w.scheduledNs / 1000));
      if (followers.admit(i)) {
        w.delaysUs[i] = delayUs;
        w.generations[i] = followers.links[i]!.generation;
        w.legsLeft++;
      } else {
        w.delaysUs[i] = NaN;
        acks.countFailure(i, w, true);
      }
    }
    if (w.legsLeft > 0) {
      writes.set(w.version, w);
      o.engine.schedule(w.version, payload, w.scheduledNs, w.delaysUs);
    }
    o.afterSchedule?.();
  }

  async function handleWrite(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startMs = performance.now();
    const receivedUs = isTraced(req) ? monotonicUs() : 0;
    const { key, value, keyJson, valueJson } = parseWrite(
      await readJsonBody(req, o.bodyLimitBytes),
      o.replicationBodyLimitBytes,
    );
    const quorum = o.quorum();
    if (o.followers.available < quorum) {
      rejectUnavailable(o, res, key, quorum, startMs);
      return;
    }
    // Version and local apply in one synchronous step: no window where a follower could hold
    // a newer version than the leader.
    const v = ++version;
    o.store.apply(key, value, v);
    const n = o.followers.size;
    const w: PendingWrite = {
      res,
      keyJson,
      valueJson,
      version: v,
      quorum,
      acks: 0,
      failed: 0,
      done: false,
      startMs,
      timer: undefined,
      scheduledNs: o.engine.nowNs(),
      receivedNs: NaN,
      delaysUs: new Array<number>(n),
      generations: new Array<number>(n),
      legsLeft: 0,
      trace: undefined,
    };
    if (receivedUs !== 0) {
      w.trace = {
        version: v,
        key,
        receivedUs,
        versionUs: monotonicUs(),
        quorumUs: null,
        responseUs: null,
        quorum,
        legs: [],
      };
      o.traces.push(w.trace);
    }
    w.timer = setTimeout(() => {
      if (!w.done) acks.finish(w, false, 'timeout');
    }, o.quorumTimeoutMs);
    replicate(w, entryJson(keyJson, valueJson, v, receivedUs !== 0));
  }

  return {
    handleWrite,
    onResults: acks.onResults,
    get version() {
      return version;
    },
  };
}

/** Counts what the replication thread reports towards each write's quorum, and answers the client. */
function createAckCounter(o: WritePathOptions, writes: Map<number, PendingWrite>) {
  const { followers, stats } = o;
  const { counters } = stats;
  const n = followers.size;

  const finish = (w: PendingWrite, ok: boolean, reason?: 'timeout' | 'unreachable') => finishWrite(o, w, ok, reason);

  /** A leg that did not reach its follower: never retried, the catch-up snapshot covers it. */
  function countFailure(i: number, w: PendingWrite, skipped: boolean): void {
    followers.links[i]!.countFailure(skipped);
    counters.replFailed++;
    if (skipped) counters.skipped++;
    if (w.trace) w.trace.legs[i]!.outcome = skipped ? 'skipped' : 'failed';
    if (!w.done && ++w.failed > n - w.quorum) finish(w, false, 'unreachable');
  }

  function ackLeg(i: number, w: PendingWrite): void {
    followers.links[i]!.countAck(w.version);
    counters.acked++;
    if (w.trace) {
      const leg = w.trace.legs[i]!;
      leg.outcome = 'acked';
      leg.ackUs = monotonicUs();
    }
    if (!w.done && ++w.acks >= w.quorum) {
      if (w.trace) w.trace.quorumUs = monotonicUs();
      finish(w, true);
    }
  }

  /** One leg's outcome, as part of a request's result. */
  function settleLeg(
    i: number,
    w: PendingWrite,
    outcome: LegResult[1],
    firedNs: number,
    sentNs: number,
    detail: string | null,
  ): void {
    const link = followers.links[i]!;
    stats.recordDelay(w.delaysUs[i]!, (firedNs - w.receivedNs) / 1000);
    if (w.trace) {
      const leg = w.trace.legs[i]!;
      leg.firedUs = o.engine.epochUs + firedNs / 1000;
      leg.sentUs = sentNs === 0 ? null : o.engine.epochUs + sentNs / 1000;
    }
    if (outcome !== SKIPPED) {
      counters.sent++;
    }
    followers.settle(i);
    if (outcome === ACKED) ackLeg(i, w);
    else {
      if (outcome === FAILED) link.replicationFailed(w.generations[i]!, detail ?? 'failed');
      countFailure(i, w, outcome !== FAILED);
    }
    if (--w.legsLeft === 0) writes.delete(w.version);
  }

  /** Everything the replication thread reports: per request, then per write in it. */
  function onResults(results: LegResult[]): void {
    const nowMs = performance.now();
    for (const [i, outcome, versions, firedNs, sentNs, ackNs, detail] of results) {
      if (outcome === RECEIVED) {
        const w = writes.get(versions[0]!);
        if (w !== undefined) noteReceived(o, w, firedNs);
        continue;
      }
      if (outcome === ACKED) {
        followers.ackLatencyUs[i]!.record((ackNs - sentNs) / 1000);
        followers.links[i]!.noteAck(nowMs, detail ?? undefined);
      }
      for (const v of versions) {
        const w = writes.get(v);
        if (w !== undefined) settleLeg(i, w, outcome, firedNs, sentNs, detail);
      }
    }
  }

  return { finish, countFailure, onResults };
}

/** Answer the client: 200 at W acks, else 503 naming why. */
function finishWrite(o: WritePathOptions, w: PendingWrite, ok: boolean, reason?: 'timeout' | 'unreachable'): void {
  const { stats } = o;
  const { counters } = stats;
  w.done = true;
  if (w.timer !== undefined) clearTimeout(w.timer);
  stats.acksAtResponse[w.acks]!++;
  stats.writeLatencyUs.record((performance.now() - w.startMs) * 1000);
  if (ok) {
    counters.ok++;
    // Built from the texts already serialised for replication: no second JSON.stringify of the value.
    sendJsonText(
      w.res,
      200,
      `{"status":"success","key":${w.keyJson},"value":${w.valueJson},"version":${w.version},"acks":${w.acks},"quorum":${w.quorum}}`,
    );
  } else {
    counters.failed++;
    const message =
      reason === 'timeout'
        ? `only ${w.acks} of ${w.quorum} required acks within ${o.quorumTimeoutMs} ms`
        : `only ${w.acks} of ${w.quorum} required acks possible: ${w.failed} follower(s) failed`;
    sendError(w.res, 503, 'quorum_not_reached', message, {
      key: JSON.parse(w.keyJson) as string,
      version: w.version,
      acks: w.acks,
      quorum: w.quorum,
      reason,
      applied: NOT_ROLLED_BACK,
    });
  }
  if (w.trace) w.trace.responseUs = monotonicUs();
}

/** The replication thread took the write in: its delays count from now (the wait before is the hand-off). */
function noteReceived(o: WritePathOptions, w: PendingWrite, receivedNs: number): void {
  w.receivedNs = receivedNs;
  o.stats.recordHandoff((receivedNs - w.scheduledNs) / 1000);
  if (w.trace) for (const leg of w.trace.legs) leg.scheduledUs = o.engine.epochUs + receivedNs / 1000;
}

function rejectUnavailable(
  o: WritePathOptions,
  res: ServerResponse,
  key: string,
  quorum: number,
  startMs: number,
): void {
  const { counters } = o.stats;
  // Fail fast, before a version is used: the outcome is known (not written), unlike a timeout.
  counters.failed++;
  counters.unavailable++;
  o.stats.acksAtResponse[0]!++;
  o.stats.writeLatencyUs.record((performance.now() - startMs) * 1000);
  sendError(
    res,
    503,
    'quorum_not_reached',
    `only ${o.followers.available} of ${o.followers.size} followers are up or catching up; W=${quorum}`,
    {
      key,
      acks: 0,
      quorum,
      up: o.followers.up,
      available: o.followers.available,
      reason: 'insufficient_followers',
      applied: NOT_APPLIED,
    },
  );
}

function newLeg(targetDelayUs: number, scheduledUs: number): LeaderLegTrace {
  return { targetDelayUs, scheduledUs, firedUs: null, sentUs: null, ackUs: null, outcome: 'pending' };
}

/** Validate a write body; the replication message must fit the followers' limit (413 otherwise). */
function parseWrite(
  body: unknown,
  replLimit: number,
): { key: string; value: unknown; keyJson: string; valueJson: string } {
  if (!isPlainObject(body)) throw new HttpError(400, 'invalid_body', 'body must be a JSON object {"key","value"}');
  const key = body.key;
  if (typeof key !== 'string' || key === '')
    throw new HttpError(400, 'invalid_key', '"key" must be a non-empty string');
  if (!('value' in body)) throw new HttpError(400, 'missing_value', '"value" is required (any JSON, null included)');
  assertValueDepth(body.value);
  const keyJson = JSON.stringify(key);
  const valueJson = JSON.stringify(body.value);
  // UTF-8 is at most 3 bytes per UTF-16 unit: measure only when it could matter.
  const approx = keyJson.length + valueJson.length + 48;
  if (approx * 3 > replLimit && Buffer.byteLength(keyJson) + Buffer.byteLength(valueJson) + 48 > replLimit) {
    throw new HttpError(413, 'payload_too_large', `the replication message would exceed ${replLimit} bytes`, {
      limitBytes: replLimit,
    });
  }
  return { key, value: body.value, keyJson, valueJson };
}
