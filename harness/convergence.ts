/**
 * After the load: wait until the leader reports no pending replication, then compare every
 * follower's /data with the leader's. A follower with a missing key, another version or another
 * value counts that key as mismatched (so are keys the leader does not have).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Control } from './control.ts';
import type { LeaderStats } from '../contracts/stats.ts';
import type { ValueVersionOf } from './value-versions.ts';

export type { LeaderStats } from '../contracts/stats.ts';

export type DataDump = Record<string, { value: unknown; version: number }>;

export interface ConvergenceResult {
  quiescent: boolean;
  waitedMs: number;
  /** Mismatched keys per follower, in follower order. */
  mismatchedKeys: number[];
  leaderKeys: number;
  converged: boolean;
  /** The leader's /stats once quiescent (or at the deadline). */
  leaderStats: LeaderStats;
  /** A few keys per follower (follower order) that differ from the leader after the run. */
  differingKeys?: string[][];
  /** The same, before the load (external clusters): a difference here predates the run. */
  preRunDifferingKeys?: string[][];
}

export async function waitQuiescent(
  control: Control,
  leaderUrl: string,
  timeoutMs: number,
  pollMs = 20,
): Promise<{ quiescent: boolean; waitedMs: number; stats: LeaderStats }> {
  const started = Date.now();
  const maxPolls = Math.max(1, Math.ceil(timeoutMs / pollMs) + 1);
  let stats: LeaderStats = {};
  for (let i = 0; i < maxPolls; i++) {
    stats = await control.getJson<LeaderStats>(leaderUrl, '/stats');
    if (isQuiescent(stats)) return { quiescent: true, waitedMs: Date.now() - started, stats };
    if (Date.now() - started >= timeoutMs) break;
    await sleep(pollMs);
  }
  return { quiescent: false, waitedMs: Date.now() - started, stats };
}

/**
 * No replication scheduled or in flight, and no follower down or catching up (docs/contracts.md).
 * A follower can go down without any fault (a probe timing out on busy cores): comparing replicas
 * before the leader has caught it up would report a divergence that is only a wait.
 */
export function isQuiescent(stats: LeaderStats): boolean {
  if ((stats.replication?.pending ?? 0) !== 0) return false;
  const a = stats.availability;
  return a === undefined || ((a.down ?? 0) === 0 && (a.catching_up ?? 0) === 0);
}

export function countMismatches(leader: DataDump, follower: DataDump): number {
  return differingKeys(leader, follower, Infinity).length;
}

/** Keys a follower holds differently (missing, other version or value, or absent on the leader), at most `limit`. */
export function differingKeys(leader: DataDump, follower: DataDump, limit = 5): string[] {
  const keys: string[] = [];
  for (const [key, entry] of Object.entries(leader)) {
    if (keys.length >= limit) return keys;
    const f = follower[key];
    if (!f || f.version !== entry.version || JSON.stringify(f.value) !== JSON.stringify(entry.value)) keys.push(key);
  }
  for (const key of Object.keys(follower)) {
    if (keys.length >= limit) return keys;
    if (!(key in leader)) keys.push(key);
  }
  return keys;
}

/** Every replica's /data, leader first, read as DataDumps. */
export async function readDumps(
  control: Control,
  urls: readonly string[],
  valueVersionOf?: ValueVersionOf,
): Promise<DataDump[]> {
  return Promise.all(
    urls.map(async (url) => normaliseDump(await control.getJson<unknown>(url, '/data'), url, valueVersionOf)),
  );
}

/** How to read a cluster that has only the seed's endpoints. */
export interface ConvergenceOptions {
  /** The leader answers GET /stats; without it, quiescence is "every replica's /data agrees" (polled until the timeout). */
  stats?: boolean;
  /** Versions of stored values when /data carries none (value-versions.ts). */
  valueVersionOf?: ValueVersionOf;
}

/** Compare every follower with the leader, handing back the /data dumps (leader first) for the nothing-lost check. */
export async function checkConvergenceWithData(
  control: Control,
  leaderUrl: string,
  followerUrls: readonly string[],
  timeoutMs: number,
  options: ConvergenceOptions = {},
): Promise<{ convergence: ConvergenceResult; dumps: DataDump[] }> {
  const urls = [leaderUrl, ...followerUrls];
  const readAll = (): Promise<DataDump[]> => readDumps(control, urls, options.valueVersionOf);
  const started = Date.now();
  let q: { quiescent: boolean; waitedMs: number; stats: LeaderStats };
  let dumps: DataDump[];
  if (options.stats === false) {
    // No pending count to wait on: poll until the replicas agree, or the timeout.
    for (;;) {
      dumps = await readAll();
      const agree = dumps.slice(1).every((d) => countMismatches(dumps[0]!, d) === 0);
      if (agree || Date.now() - started >= timeoutMs) {
        q = { quiescent: agree, waitedMs: Date.now() - started, stats: {} };
        break;
      }
      await sleep(50);
    }
  } else {
    q = await waitQuiescent(control, leaderUrl, timeoutMs);
    dumps = await readAll();
  }
  const [leaderData, ...followerData] = dumps;
  const mismatchedKeys = followerData.map((d) => countMismatches(leaderData!, d));
  return {
    convergence: {
      quiescent: q.quiescent,
      waitedMs: q.waitedMs,
      mismatchedKeys,
      leaderKeys: Object.keys(leaderData!).length,
      converged: q.quiescent && mismatchedKeys.every((n) => n === 0),
      leaderStats: q.stats,
      differingKeys: followerData.map((d) => differingKeys(leaderData!, d)),
    },
    dumps,
  };
}

/** A /data body the harness cannot read as a key -> value map. */
export class DataDumpError extends Error {
  readonly code = 'QL_ERR_UNREADABLE_DATA';
  constructor(message: string) {
    super(message);
    this.name = 'DataDumpError';
  }
}

const WRAPPER_FIELDS = new Set(['data', 'store', 'status', 'count', 'size', 'node', 'role', 'keys']);

/**
 * Read a /data body: ours (`{key: {value, version}}`), the seed's (`{key: value}`), or either
 * wrapped in `{data: ...}` / `{store: ...}` with a few extra fields. Entries without a version get
 * the one valueVersionOf gives them (-1 for a value no write of this step wrote).
 */
export function normaliseDump(raw: unknown, url: string, valueVersionOf?: ValueVersionOf): DataDump {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new DataDumpError(`GET ${url}/data is not a JSON object: ${JSON.stringify(raw).slice(0, 120)}`);
  }
  let map = raw as Record<string, unknown>;
  const inner = map.data ?? map.store;
  if (
    inner !== null &&
    typeof inner === 'object' &&
    !Array.isArray(inner) &&
    Object.keys(map).every((k) => WRAPPER_FIELDS.has(k))
  ) {
    map = inner as Record<string, unknown>;
  }
  const dump: DataDump = {};
  for (const [key, entry] of Object.entries(map)) {
    const e =
      entry !== null && typeof entry === 'object' && !Array.isArray(entry) ? (entry as Record<string, unknown>) : null;
    if (e && typeof e.version === 'number') {
      dump[key] = { value: e.value, version: e.version };
      continue;
    }
    const value = e && 'value' in e ? e.value : entry;
    dump[key] = { value, version: valueVersionOf?.(key, value) ?? -1 };
  }
  return dump;
}
