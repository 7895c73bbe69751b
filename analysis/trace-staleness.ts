/**
 * Staleness from the timelines: a read served at t by a replica is stale iff that replica came to
 * hold the write's version (or a newer one) after t. The client decided the same read by the version
 * it got back; both must agree read by read, and a disagreement is a bug in one of them.
 */
import type { ClientReadTrace } from '../contracts/trace.ts';
import type { JoinedWrite } from './trace-join.ts';

export type TraceReadOutcome = 'fresh' | 'stale' | 'unknown';

/** When the replica of `read` held the write's version, or null when the trace does not say. */
export function visibleAt(w: JoinedWrite, replica: string): number | null {
  if (replica === 'leader') return w.versionUs;
  const m = /^follower(\d+)$/.exec(replica);
  return m ? (w.legs.find((l) => l.follower === Number(m[1]))?.visibleUs ?? null) : null;
}

export function traceReadOutcome(w: JoinedWrite, read: ClientReadTrace): TraceReadOutcome {
  if (read.servedUs === null || (read.outcome !== 'fresh' && read.outcome !== 'stale')) return 'unknown';
  const visible = visibleAt(w, read.replica);
  if (visible === null) return 'unknown';
  return visible > read.servedUs ? 'stale' : 'fresh';
}

export interface TraceStaleness {
  /** Follower reads both methods decided. */
  followerReads: number;
  staleByTrace: number;
  staleByVersion: number;
  /** stale by trace / follower reads (null when none). */
  staleFraction: number | null;
  /** Reads (any replica) where trace and version disagree. */
  disagreements: number;
  /** Reads the trace could not decide (missing serve or apply time). */
  unknown: number;
}

export function traceStaleness(writes: readonly JoinedWrite[]): TraceStaleness {
  let followerReads = 0;
  let staleByTrace = 0;
  let staleByVersion = 0;
  let disagreements = 0;
  let unknown = 0;
  for (const w of writes) {
    for (const read of w.reads) {
      const byTrace = traceReadOutcome(w, read);
      if (byTrace === 'unknown') {
        if (read.outcome === 'fresh' || read.outcome === 'stale') unknown++;
        continue;
      }
      if (byTrace !== read.outcome) disagreements++;
      if (read.replica === 'leader') continue;
      followerReads++;
      if (byTrace === 'stale') staleByTrace++;
      if (read.outcome === 'stale') staleByVersion++;
    }
  }
  return {
    followerReads,
    staleByTrace,
    staleByVersion,
    disagreements,
    unknown,
    staleFraction: followerReads === 0 ? null : staleByTrace / followerReads,
  };
}
