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

/** One follower's applies, every boot together, by (key, version); the earliest applied record wins. */
function indexApplies(dumps: readonly TraceDump[]): {
  byId: Map<string, TaggedApply>;
  byKey: Map<string, TaggedApply[]>;
} {
  const byId = new Map<string, TaggedApply>();
  const byKey = new Map<string, TaggedApply[]>();
  for (const d of dumps) {
    for (const a of d.applies ?? []) {
      const t: TaggedApply = { ...a, bootId: d.bootId ?? null };
      const k = id(a.key, a.version);
      const prev = byId.get(k);
      if (prev === undefined || (t.applied && (!prev.applied || t.appliedUs < prev.appliedUs))) byId.set(k, t);
      const list = byKey.get(a.key) ?? [];
      list.push(t);
      byKey.set(a.key, list);
    }
  }
  return { byId, byKey };
}

/** Earliest time a follower held `version` or newer of `key`: an applied record, or one that found a newer version there. */
function visibleSince(list: readonly TaggedApply[] | undefined, version: number): number | null {
  let best: number | null = null;
  for (const a of list ?? []) {
    if (a.version >= version && (best === null || a.appliedUs < best)) best = a.appliedUs;
  }
  return best;
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
