/**
 * Per-write timelines (issue 9): what each part records, and how the harness collects it.
 *
 * Every time is an integer µs on CLOCK_MONOTONIC (`monotonicUs()`), which every process on one
 * host shares (containers on one host too). The harness asks for a trace by sending TRACE_HEADER
 * on a write or a read; nodes record only what carries it, in bounded rings, and answer
 * `GET /trace` with a TraceDump. `POST /stats/reset` also clears the trace ring.
 *
 * Defined once here: the nodes write these shapes, the harness and the analysis read them.
 */

/** Request header that asks for a trace of this write (value "1") or read. */
export const TRACE_HEADER = 'x-ql-trace';
/** Response header of a traced `GET /read`: the µs at which the node served it. */
export const SERVED_AT_HEADER = 'x-ql-served-us';
/** Ring capacity per node (traced writes kept), unless the node's TRACE_CAPACITY says otherwise. */
export const DEFAULT_TRACE_CAPACITY = 20_000;

/** Now, integer µs on the monotonic clock every process on this host shares. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** One follower's leg of a traced write, as the leader saw it. */
export interface LeaderLegTrace {
  /** The injected delay drawn for this follower, µs (float allowed). */
  targetDelayUs: number;
  /** When the delay was scheduled. */
  scheduledUs: number;
  /** When the delay fired (null: never, e.g. follower down). */
  firedUs: number | null;
  /** When the replication request left (single or batched). */
  sentUs: number | null;
  /** When the ack was processed on the leader's main thread. */
  ackUs: number | null;
  outcome: 'acked' | 'failed' | 'skipped' | 'pending';
}

/** A traced write on the leader. */
export interface LeaderWriteTrace {
  version: number;
  key: string;
  /** Request handler start on the leader. */
  receivedUs: number;
  /** Version assigned and applied locally. */
  versionUs: number;
  /** W-th ack processed (null: quorum not reached). */
  quorumUs: number | null;
  /** Response written. */
  responseUs: number | null;
  /** W at the time of the write. */
  quorum: number;
  /** One entry per follower, in follower order (follower1 first). */
  legs: LeaderLegTrace[];
}

/** A traced replication message on a follower. */
export interface FollowerApplyTrace {
  version: number;
  key: string;
  /** Request arrived (handler start; for a batch, the batch's arrival). */
  receivedUs: number;
  /** Store updated (or found newer, when applied is false). */
  appliedUs: number;
  /** False when a newer version was already there. */
  applied: boolean;
}

/** `GET /trace` body. */
export interface TraceDump {
  role: 'leader' | 'follower';
  /** Follower boot id (a restarted follower gets a new one: its earlier records are gone). */
  bootId?: string;
  /** The node's monotonicUs() when it answered: the harness compares it with its own to decide whether clocks are shared. */
  nowUs: number;
  capacity: number;
  /** Records overwritten because the ring was full. */
  dropped: number;
  writes?: LeaderWriteTrace[];
  applies?: FollowerApplyTrace[];
}

/** One traced read-back on the harness side. */
export interface ClientReadTrace {
  /** 'leader' | 'follower1'.. */
  replica: string;
  sentUs: number;
  /** From SERVED_AT_HEADER; null when the node does not send it. */
  servedUs: number | null;
  receivedUs: number;
  /** Version the node served (null: not found, error, or a node that sends no version). */
  version: number | null;
  outcome: 'fresh' | 'stale' | 'unavailable' | 'error';
}

/** One traced write on the harness side. */
export interface ClientWriteTrace {
  client: number;
  key: string;
  /** Null when the write failed. */
  version: number | null;
  /** Open loop: the intended send time; closed loop: equal to sentUs. */
  intendedUs: number;
  sentUs: number;
  receivedUs: number;
  reads: ClientReadTrace[];
}
