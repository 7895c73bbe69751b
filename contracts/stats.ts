/**
 * The bodies of the nodes' GET /stats and GET /health, defined once: the nodes build them, the harness
 * (convergence, meta.json, summary) and the benchmarks read them. A foreign cluster (one that speaks only
 * the seed's API) has no /stats, so readers take a DeepPartial and say which figures are then missing.
 */

/** `{ count, mean, p50, p99, max }` in µs. */
export interface SummaryJson {
  count: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

export type FollowerState = 'up' | 'catching_up' | 'down';

/** One follower as the leader sees it. */
export interface FollowerLinkStats {
  url: string;
  state: FollowerState;
  transitions: number;
  lastError: string | null;
  lastErrorAt: string | null;
  bootId: string | null;
  restarts: number;
  acked: number;
  failed: number;
  skipped: number;
  pending: number;
  ackedVersion: number;
  lagVersions: number;
  catchUps: number;
  catchUpFailures: number;
  catchUpMs: { count: number; mean: number; max: number };
  lastCatchUp: { ms: number; entries: number; bytes: number; chunks: number; version: number } | null;
  ackLatencyUs: SummaryJson;
}

/** Leader GET /stats. */
export interface LeaderStatsBody {
  role: 'leader';
  quorum: number;
  /** Last version assigned. */
  version: number;
  writes: { ok: number; failed: number; rejected: number; unavailable: number };
  acksAtResponse: Record<string, number>;
  /** pending = scheduled or in flight (running catch-ups included): 0 and every follower up = quiescent. */
  replication: {
    pending: number;
    sent: number;
    acked: number;
    failed: number;
    skipped: number;
    [field: string]: unknown;
  };
  availability: { up: number; catching_up: number; down: number; quorum: number; writable: boolean };
  followers: FollowerLinkStats[];
  /** Injected replication delays, all followers; errorUs = realised − target (lateness). */
  delays: {
    strategy: string;
    minDelayMs: number;
    maxDelayMs: number;
    seed: number | null;
    count: number;
    /** Fired before the target: must be 0. */
    early: number;
    targetUs: SummaryJson;
    realisedUs: SummaryJson;
    errorUs: SummaryJson;
    /** hdr-histogram-js compressed base64 of the realised delays, µs. */
    realisedHdr: string;
  };
  /** Leader-side request → response time. */
  writeLatencyUs: SummaryJson;
  /** hdr-histogram-js compressed base64 of writeLatencyUs since the last reset: the harness subtracts
   * two of them to get the percentiles of the writes in between (a fault window). */
  writeLatencyHdr: string;
}

/** Follower GET /stats. */
export interface FollowerStatsBody {
  role: 'follower';
  applied: number;
  ignored: number;
  keys: number;
  maxVersion: number;
  bootId: string;
  [counter: string]: unknown;
}

export type DeepPartial<T> = T extends readonly (infer E)[]
  ? readonly DeepPartial<E>[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** What a reader may get from a leader's /stats: ours in full, a foreign one's in part or not at all. */
export type LeaderStats = DeepPartial<LeaderStatsBody> & { [field: string]: unknown };
