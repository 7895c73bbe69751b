/**
 * Joining the per-write traces of the client, the leader and the followers (contracts/trace.ts)
 * into one timeline per write, by (key, version), on the one monotonic clock they share.
 * Any part may be missing (a ring that overflowed, a failed leg, a follower that restarted and lost
 * its ring, a node that records nothing): its times are then null, never guessed.
 */
import type {
  ClientReadTrace,
  ClientWriteTrace,
  FollowerApplyTrace,
  LeaderLegTrace,
  LeaderWriteTrace,
  TraceDump,
} from '../contracts/trace.ts';

export interface JoinedLeg {
  /** 1-based follower index. */
  follower: number;
  /** Leader side (null when the leader recorded no trace of this write). */
  targetDelayUs: number | null;
  scheduledUs: number | null;
  firedUs: number | null;
  sentUs: number | null;
  ackUs: number | null;
  outcome: LeaderLegTrace['outcome'] | null;
  /** Follower side: this write's replication message (null when the follower has no record of it). */
  receivedUs: number | null;
  appliedUs: number | null;
  /** False when the follower already held a newer version. */
  applied: boolean | null;
  /** Boot of the follower that recorded it. */
  bootId: string | null;
  /** Earliest time the follower held this version or a newer one, from its traced applies (null: unknown). */
  visibleUs: number | null;
}

export interface JoinedWrite {
  quorum: number;
  key: string;
  version: number;
  /** Client side (null when the client's trace of this write is missing). */
  client: number | null;
  intendedUs: number | null;
  clientSentUs: number | null;
  clientReceivedUs: number | null;
  /** Leader side. */
  leaderReceivedUs: number | null;
  versionUs: number | null;
  quorumUs: number | null;
  responseUs: number | null;
  legs: JoinedLeg[];
  reads: ClientReadTrace[];
}

export interface TraceJoinInput {
  quorum: number;
  followers: number;
  clientTraces: readonly ClientWriteTrace[];
  leader: TraceDump | null;
  /** Per follower (index 0 = follower1), every dump collected from it (one per boot seen, or more). */
  followerDumps: readonly (readonly TraceDump[])[];
}

export interface TraceJoinResult {
  writes: JoinedWrite[];
  /** Client traces of failed writes (no version), left out. */
  clientFailed: number;
  /** Writes only the client saw traced / only the leader did. */
  clientOnly: number;
  leaderOnly: number;
  /** Records the nodes' rings overwrote (summed over nodes). */
  dropped: number;
}

const id = (key: string, version: number): string => `${version}\u0000${key}`;

interface TaggedApply extends FollowerApplyTrace {
  bootId: string | null;
}

/**
 * One key's applies on one follower, by version ascending, with the earliest appliedUs at or after
 * each position: "visible since" for a version is one binary search instead of a scan of the key.
 */
interface KeyApplies {
  versions: number[];
  earliestFromUs: number[];
}

/** One follower's applies, every boot together: by (key, version), the earliest applied record wins; and per key. */
function indexApplies(dumps: readonly TraceDump[]): {
  byId: Map<string, TaggedApply>;
  byKey: Map<string, KeyApplies>;
} {
  const byId = new Map<string, TaggedApply>();
  const lists = new Map<string, FollowerApplyTrace[]>();
  for (const d of dumps) {
    const bootId = d.bootId ?? null;
    for (const a of d.applies ?? []) {
      const k = id(a.key, a.version);
      const prev = byId.get(k);
      if (prev === undefined || (a.applied && (!prev.applied || a.appliedUs < prev.appliedUs)))
        byId.set(k, {
          version: a.version,
          key: a.key,
          receivedUs: a.receivedUs,
          appliedUs: a.appliedUs,
          applied: a.applied,
          bootId,
        });
      const list = lists.get(a.key);
      if (list === undefined) lists.set(a.key, [a]);
      else list.push(a);
    }
  }
  const byKey = new Map<string, KeyApplies>();
  for (const [key, list] of lists) byKey.set(key, keyApplies(list));
  return { byId, byKey };
}

function keyApplies(list: FollowerApplyTrace[]): KeyApplies {
  list.sort((a, b) => a.version - b.version);
  const versions = list.map((a) => a.version);
  const earliestFromUs = new Array<number>(list.length);
  let best = Infinity;
  for (let i = list.length - 1; i >= 0; i--) {
    best = Math.min(best, list[i]!.appliedUs);
    earliestFromUs[i] = best;
  }
  return { versions, earliestFromUs };
}

/** Earliest time a follower held `version` or newer of `key`: an applied record, or one that found a newer version there. */
function visibleSince(applies: KeyApplies | undefined, version: number): number | null {
  if (applies === undefined) return null;
  const { versions, earliestFromUs } = applies;
  let lo = 0;
  let hi = versions.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (versions[mid]! < version) lo = mid + 1;
    else hi = mid;
  }
  return lo < versions.length ? earliestFromUs[lo]! : null;
}

function joinLeg(
  follower: number,
  leg: LeaderLegTrace | undefined,
  apply: TaggedApply | undefined,
  visibleUs: number | null,
): JoinedLeg {
  return {
    follower,
    targetDelayUs: leg?.targetDelayUs ?? null,
    scheduledUs: leg?.scheduledUs ?? null,
    firedUs: leg?.firedUs ?? null,
    sentUs: leg?.sentUs ?? null,
    ackUs: leg?.ackUs ?? null,
    outcome: leg?.outcome ?? null,
    receivedUs: apply?.receivedUs ?? null,
    appliedUs: apply?.appliedUs ?? null,
    applied: apply?.applied ?? null,
    bootId: apply?.bootId ?? null,
    visibleUs,
  };
}

export function joinTraces(input: TraceJoinInput): TraceJoinResult {
  const leaderWrites = new Map<string, LeaderWriteTrace>();
  for (const w of input.leader?.writes ?? []) leaderWrites.set(id(w.key, w.version), w);
  const applies = Array.from({ length: input.followers }, (_, i) => indexApplies(input.followerDumps[i] ?? []));
  const dropped = [input.leader, ...input.followerDumps.flat()].reduce((s, d) => s + (d?.dropped ?? 0), 0);

  const clients = new Map<string, ClientWriteTrace>();
  let clientFailed = 0;
  for (const c of input.clientTraces) {
    if (c.version === null) clientFailed++;
    else clients.set(id(c.key, c.version), c);
  }
  const ids = new Set([...clients.keys(), ...leaderWrites.keys()]);
  const writes: JoinedWrite[] = [];
  let clientOnly = 0;
  let leaderOnly = 0;
  for (const k of ids) {
    const c = clients.get(k);
    const l = leaderWrites.get(k);
    if (c === undefined) leaderOnly++;
    if (l === undefined) clientOnly++;
    const key = (c?.key ?? l?.key)!;
    const version = (c?.version ?? l?.version)!;
    writes.push({
      quorum: l?.quorum ?? input.quorum,
      key,
      version,
      client: c?.client ?? null,
      intendedUs: c?.intendedUs ?? null,
      clientSentUs: c?.sentUs ?? null,
      clientReceivedUs: c?.receivedUs ?? null,
      leaderReceivedUs: l?.receivedUs ?? null,
      versionUs: l?.versionUs ?? null,
      quorumUs: l?.quorumUs ?? null,
      responseUs: l?.responseUs ?? null,
      legs: applies.map((a, i) => joinLeg(i + 1, l?.legs[i], a.byId.get(k), visibleSince(a.byKey.get(key), version))),
      reads: c?.reads ?? [],
    });
  }
  writes.sort((a, b) => (a.intendedUs ?? a.leaderReceivedUs ?? 0) - (b.intendedUs ?? b.leaderReceivedUs ?? 0));
  return { writes, clientFailed, clientOnly, leaderOnly, dropped };
}
