/**
 * Row builders for the run folder's CSV tables, whose columns are defined once in contracts/run-folder.ts.
 * Rows are plain records; csv-stringify writes them with exactly those columns in that order.
 */
import { stringify } from 'csv-stringify/sync';
import {
  AVAILABILITY_TABLE,
  columnNames,
  LATENCY_PERCENTILES_TABLE,
  OBSERVED_READ_QUORUMS_TABLE,
  STALE_COUNTS_TABLE,
  STALENESS_TABLE,
  SUMMARY_TABLE,
  VISIBILITY_TABLE,
} from '../contracts/run-folder.ts';
import { histogramStats, percentileSpectrum } from './histogram.ts';
import type { LeaderStats } from './convergence.ts';
import type { QuorumResult } from './results.ts';

export const SUMMARY_COLUMNS = columnNames(SUMMARY_TABLE);
export const LATENCY_PERCENTILE_COLUMNS = columnNames(LATENCY_PERCENTILES_TABLE);
export const STALENESS_COLUMNS = columnNames(STALENESS_TABLE);
export const STALE_COUNTS_COLUMNS = columnNames(STALE_COUNTS_TABLE);
export const VISIBILITY_COLUMNS = columnNames(VISIBILITY_TABLE);
export const AVAILABILITY_COLUMNS = columnNames(AVAILABILITY_TABLE);
export const OBSERVED_READ_QUORUM_COLUMNS = columnNames(OBSERVED_READ_QUORUMS_TABLE);

type Row<C extends readonly string[]> = Record<C[number], string | number | null>;

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function ratio(a: number, b: number): number {
  return b > 0 ? round(a / b, 6) : 0;
}

function num(x: unknown): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

export function summaryRow(r: QuorumResult, leaderStats: LeaderStats | undefined): Row<typeof SUMMARY_COLUMNS> {
  const s = r.latencyStats;
  const rd = histogramStats(r.followerReadDelay);
  return {
    quorum: r.quorum,
    clients: r.clients,
    load_model: r.loadModel,
    target_writes_per_sec: r.targetRate,
    achieved_writes_per_sec: round(r.achievedRate, 1),
    writes_ok: r.ok,
    errors_quorum: r.errors.quorum,
    errors_http: r.errors.http,
    errors_timeout: r.errors.timeout,
    errors_connection: r.errors.connection,
    latency_mean_us: s.mean,
    latency_p50_us: s.p50,
    latency_p90_us: s.p90,
    latency_p99_us: s.p99,
    latency_p999_us: s.p999,
    latency_max_us: s.max,
    follower_reads: r.followerReads,
    stale_reads: r.followerStale,
    stale_fraction: ratio(r.followerStale, r.followerReads),
    read_delay_mean_us: rd.mean,
    converged: r.convergence.converged ? 'true' : 'false',
    mismatched_keys: r.convergence.mismatchedKeys.reduce((a, n) => a + n, 0),
    delay_error_p50_us: num(leaderStats?.delays?.errorUs?.p50),
    delay_error_p99_us: num(leaderStats?.delays?.errorUs?.p99),
    realised_delay_mean_us: num(leaderStats?.delays?.realisedUs?.mean),
    min_delay_ms: r.minDelayMs,
    max_delay_ms: r.maxDelayMs,
    duration_s: round(r.durationS, 3),
    lost_writes: r.lostWrites.lost,
    unknown_outcome_writes: r.lostWrites.unknownOutcome,
    reads_unavailable: r.readsUnavailable,
    readbacks_incomplete: r.incompleteReadbacks,
    probes_unavailable: r.probesUnavailable,
    cap_waits: r.capWaits,
    send_lag_p99_us: r.sendLagStats ? r.sendLagStats.p99 : null,
    complete: r.complete ? 'true' : 'false',
    client_traces: r.clientTraces.length,
    latency_sd_us: s.sd,
  };
}

export function latencyPercentileRows(r: QuorumResult): Row<typeof LATENCY_PERCENTILE_COLUMNS>[] {
  return percentileSpectrum(r.latency).map((p) => ({
    quorum: r.quorum,
    percentile: p.percentile,
    latency_us: p.latencyUs,
  }));
}

export function stalenessRows(r: QuorumResult): Row<typeof STALENESS_COLUMNS>[] {
  return r.replicas.map((rep) => {
    const d = histogramStats(rep.readDelay);
    return {
      quorum: r.quorum,
      replica: rep.replica,
      reads: rep.reads,
      stale: rep.stale,
      stale_fraction: ratio(rep.stale, rep.reads),
      read_delay_mean_us: d.mean,
      read_delay_p50_us: d.p50,
      read_delay_p99_us: d.p99,
      unavailable: rep.unavailable,
      errors: rep.errors,
    };
  });
}

export function staleCountRows(r: QuorumResult): Row<typeof STALE_COUNTS_COLUMNS>[] {
  return r.staleCounts.map((writes, n) => ({ quorum: r.quorum, stale_followers: n, writes }));
}

export function visibilityRows(r: QuorumResult): Row<typeof VISIBILITY_COLUMNS>[] {
  return r.visibility.map((v) => ({
    quorum: r.quorum,
    offset_us: v.offsetUs,
    writes: v.writes,
    fully_visible_fraction: round(v.fullyVisibleFraction, 6),
    realised_offset_mean_us: v.realisedOffsetMeanUs,
  }));
}

export function availabilityRows(r: QuorumResult): Row<typeof AVAILABILITY_COLUMNS>[] {
  return r.availability.map((w) => ({
    quorum: r.quorum,
    window: w.window,
    attempted: w.attempted,
    ok: w.ok,
    errors_quorum: w.errors.quorum,
    errors_http: w.errors.http,
    errors_timeout: w.errors.timeout,
    errors_connection: w.errors.connection,
    availability: w.availability === null ? null : round(w.availability, 6),
    latency_p50_us: w.latency.count > 0 ? w.latency.p50 : null,
    latency_p99_us: w.latency.count > 0 ? w.latency.p99 : null,
    recovery_ms: r.faults?.recoveryMs ?? null,
    intended: w.intended,
    sent_on_time: w.sentOnTime,
    ok_on_time: w.okOnTime,
    availability_of_intended: w.availabilityOfIntended === null ? null : round(w.availabilityOfIntended, 6),
    window_s: round(w.windowS, 3),
    intended_per_sec: w.intendedPerSec === null ? null : round(w.intendedPerSec, 1),
    achieved_per_sec: w.achievedPerSec === null ? null : round(w.achievedPerSec, 1),
    reads_unavailable: w.readsUnavailable,
    latency_mean_us: w.latency.count > 0 ? w.latency.mean : null,
    leader_latency_mean_us: w.leaderLatency?.meanUs ?? null,
    leader_latency_p50_us: w.leaderLatency?.p50Us ?? null,
    leader_latency_p99_us: w.leaderLatency?.p99Us ?? null,
  }));
}

export function observedReadQuorumRows(r: QuorumResult): Row<typeof OBSERVED_READ_QUORUM_COLUMNS>[] {
  return r.readQuorums.map((q) => ({
    quorum: r.quorum,
    read_quorum: q.readQuorum,
    reads: q.reads,
    stale: q.stale,
    stale_fraction: q.reads > 0 ? round(q.stale / q.reads, 6) : null,
    unavailable: q.unavailable,
  }));
}

export function toCsv<C extends readonly string[]>(columns: C, rows: readonly Row<C>[]): string {
  return stringify(rows as unknown as Record<string, unknown>[], { header: true, columns: [...columns] });
}
