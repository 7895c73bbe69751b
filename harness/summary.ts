/** The end-of-run table and progress line, as strings (harness/cli.ts prints them). */
import type { QuorumResult } from './results.ts';

function pad(s: string, width: number, left = false): string {
  return left ? s.padEnd(width) : s.padStart(width);
}

export function formatSummaryTable(results: readonly QuorumResult[]): string {
  const withFaults = results.some((r) => r.faults !== null);
  const header = ['W', 'writes/s', 'p50 µs', 'p99 µs', 'p99.9 µs', 'stale %', 'errors', ...(withFaults ? ['avail in faults %', 'recovery ms'] : []),
    'delay err p50/p99 µs', 'lost', 'converged'];
  const rows = results.map((r) => {
    const fault = r.availability.find((w) => w.window === 'fault');
    const faultCells = withFaults
      ? [fault?.availability == null ? '-' : (100 * fault.availability).toFixed(1), r.faults?.recoveryMs == null ? '-' : String(r.faults.recoveryMs)]
      : [];
    const errors = r.errors.quorum + r.errors.http + r.errors.timeout + r.errors.connection;
    const stale = r.followerReads > 0 ? ((100 * r.followerStale) / r.followerReads).toFixed(1) : '-';
    const rate = r.targetRate ? `${r.achievedRate.toFixed(0)}/${r.targetRate}` : r.achievedRate.toFixed(0);
    const converged = r.convergence.converged
      ? 'yes'
      : `NO (${r.convergence.mismatchedKeys.reduce((a, n) => a + n, 0)} keys${r.convergence.quiescent ? '' : ', pending'})`;
    // How far the leader's injected delays were from their targets: the fidelity of this row.
    const err = (r.convergence.leaderStats as { delays?: { errorUs?: { p50?: number; p99?: number } } } | null | undefined)?.delays?.errorUs;
    const fmt = (x: number | undefined): string => (typeof x === 'number' && Number.isFinite(x) ? String(Math.round(x)) : '-');
    const delayErr = `${fmt(err?.p50)}/${fmt(err?.p99)}`;
    return [String(r.quorum), rate, String(r.latencyStats.p50), String(r.latencyStats.p99), String(r.latencyStats.p999), stale, String(errors),
      ...faultCells, delayErr, String(r.lostWrites.lost), converged];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i]!, i === cells.length - 1)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
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
