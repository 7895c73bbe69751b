/** The end-of-run table and progress line, as strings (harness/cli.ts prints them). */
import { ON_TIME_US } from './client.ts';
import type { QuorumResult } from './results.ts';

function pad(s: string, width: number, left = false): string {
  return left ? s.padEnd(width) : s.padStart(width);
}

export function formatSummaryTable(results: readonly QuorumResult[]): string {
  const withFaults = results.some((r) => r.faults !== null);
  const header = [
    'W',
    'writes/s',
    'p50 µs',
    'p99 µs',
    'p99.9 µs',
    'stale %',
    'unavail reads',
    'errors',
    ...(withFaults ? ['avail in faults % (of intended)', 'recovery ms'] : []),
    'delay err p50/p99 µs',
    'lost',
    'converged',
  ];
  const rows = results.map((r) => {
    const fault = r.availability.find((w) => w.window === 'fault');
    // Over what the schedule intended: a write sent late or never is not available.
    const faultCells = withFaults
      ? [
          fault?.availabilityOfIntended == null ? '-' : (100 * fault.availabilityOfIntended).toFixed(1),
          r.faults?.recoveryMs == null ? '-' : String(r.faults.recoveryMs),
        ]
      : [];
    const errors = errorCount(r);
    const stale = r.followerReads > 0 ? ((100 * r.followerStale) / r.followerReads).toFixed(1) : '-';
    const rate = r.targetRate ? `${r.achievedRate.toFixed(0)}/${r.targetRate}` : r.achievedRate.toFixed(0);
    const converged = r.convergence.converged
      ? 'yes'
      : `NO (${r.convergence.mismatchedKeys.reduce((a, n) => a + n, 0)} keys${r.convergence.quiescent ? '' : ', pending'})`;
    // How far the leader's injected delays were from their targets: the fidelity of this row.
    const err = (
      r.convergence.leaderStats as { delays?: { errorUs?: { p50?: number; p99?: number } } } | null | undefined
    )?.delays?.errorUs;
    const fmt = (x: number | undefined): string =>
      typeof x === 'number' && Number.isFinite(x) ? String(Math.round(x)) : '-';
    const delayErr = `${fmt(err?.p50)}/${fmt(err?.p99)}`;
    return [
      String(r.quorum),
      rate,
      String(r.latencyStats.p50),
      String(r.latencyStats.p99),
      String(r.latencyStats.p999),
      stale,
      String(r.readsUnavailable),
      String(errors),
      ...faultCells,
      delayErr,
      String(r.lostWrites.lost),
      converged,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i]!, i === cells.length - 1)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Below this share of the target rate, an open-loop step did not follow its schedule. */
export const OVERLOAD_SHARE = 0.9;

/**
 * The first lines of the summary when the load was not what was asked for: an open-loop rate the
 * cluster (or this machine) could not follow, or a step cut short. Empty when all is well.
 */
export function formatLoadWarnings(results: readonly QuorumResult[]): string[] {
  const lines: string[] = [];
  for (const r of results) {
    if (!r.complete)
      lines.push(
        `W=${r.quorum}: INTERRUPTED: ${r.ok + errorCount(r)} of the intended writes were measured; this row (complete=false in summary.csv) is not comparable with finished ones`,
      );
    // Either the rate was not reached, or it was only by sending most writes late (queued behind the in-flight cap).
    const slow = r.targetRate !== null && r.achievedRate < OVERLOAD_SHARE * r.targetRate;
    const late = r.sendLagStats !== null && r.sendLagStats.p50 > ON_TIME_US;
    if (r.targetRate && (slow || late)) {
      const lag = late
        ? `, half the writes left more than ${(r.sendLagStats!.p50 / 1000).toFixed(0)} ms after their intended time`
        : '';
      lines.push(
        `W=${r.quorum}: OVERLOADED: achieved ${r.achievedRate.toFixed(0)} of the target ${r.targetRate} writes/s (${((100 * r.achievedRate) / r.targetRate).toFixed(0)}%)${lag}: ` +
          'the cluster and the harness on this machine cannot follow this rate, so the latencies below are mostly queueing, not replication; use a lower --rate',
      );
    }
  }
  return lines;
}

/** Every kind of incomplete measurement, per quorum, when there is any (otherwise nothing). */
export function formatIncomplete(results: readonly QuorumResult[]): string[] {
  return results.flatMap((r) => {
    const parts: string[] = [];
    if (r.errors.timeout > 0) parts.push(`${r.errors.timeout} writes timed out (--request-timeout)`);
    if (r.readsUnavailable > 0)
      parts.push(
        `${r.readsUnavailable} read-back reads unavailable (no answer within --read-timeout${r.readsNotSent > 0 ? `, ${r.readsNotSent} of them not sent: too many reads in flight to that node` : ''})`,
      );
    if (r.incompleteReadbacks > 0)
      parts.push(`${r.incompleteReadbacks} read-backs incomplete (left out of stale_counts.csv)`);
    if (r.probesUnavailable > 0) parts.push(`${r.probesUnavailable} visibility probe reads unavailable`);
    if (r.capWaits > 0) parts.push(`${r.capWaits} writes waited for --max-in-flight (sent late)`);
    if (r.clientTracesDropped > 0) parts.push(`${r.clientTracesDropped} client traces dropped (ring full)`);
    return parts.length > 0 ? [`W=${r.quorum}: incomplete measurements: ${parts.join('; ')}`] : [];
  });
}

function errorCount(r: QuorumResult): number {
  return r.errors.quorum + r.errors.http + r.errors.timeout + r.errors.connection;
}

export interface ProgressView {
  quorum: number;
  phase: 'starting' | 'warmup' | 'measure' | 'healing' | 'converging';
  done: number;
  total: number;
  elapsedMs: number;
  p50Us?: number;
  p99Us?: number;
}

export function formatProgressLine(p: ProgressView): string {
  if (p.phase !== 'measure') return `W=${p.quorum}  ${p.phase}...`;
  const rate = p.elapsedMs > 0 ? (p.done * 1000) / p.elapsedMs : 0;
  const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 0;
  const lat = p.p50Us !== undefined ? `  p50 ${p.p50Us} µs  p99 ${p.p99Us} µs` : '';
  return `W=${p.quorum}  ${p.done}/${p.total} writes (${pct}%)  ${rate.toFixed(0)} writes/s${lat}`;
}
