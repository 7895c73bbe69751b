/**
 * Where a write's time went: the client-measured latency (intended send → response received, so
 * open-loop send lag counts, as in the corrected histograms) split along the path of the ack that
 * completed the quorum (the W-th ack the leader processed). The components telescope, so per write
 * they sum exactly to its latency, and their means sum to the mean latency of the writes decomposed.
 */
import { DECOMPOSITION_TABLE, columnNames } from '../contracts/run-folder.ts';
import { sortedQuantile } from './montecarlo.ts';
import type { JoinedLeg, JoinedWrite } from './trace-join.ts';

/** Components in path order; `total` is the latency itself. */
export const COMPONENTS = [
  'client_send_lag', // open loop: intended send → sent (queued behind the client's own writes)
  'client_to_leader', // sent → leader handler start
  'leader_before_version', // handler start → version assigned and applied on the leader
  'leader_before_delay', // version → the W-th ack's delay scheduled
  'injected_delay', // the W-th ack's drawn delay (target)
  'delay_lateness', // fired − scheduled − target
  'leader_send', // delay fired → request sent (batching, serialisation)
  'send_to_follower', // sent → follower handler start
  'follower_processing', // follower handler start → applied
  'ack_return', // applied → ack processed on the leader
  'leader_quorum_wait', // that ack → quorum recorded
  'leader_response', // quorum → response written
  'leader_to_client', // response written → client received
] as const;
export type Component = (typeof COMPONENTS)[number];

export const DECOMPOSITION_COLUMNS = columnNames(DECOMPOSITION_TABLE);

export interface DecompositionRow {
  quorum: number;
  component: Component | 'total';
  mean_us: number;
  p50_us: number;
  p99_us: number;
  /** mean_us / the total's mean_us. */
  share: number;
  /** Writes decomposed (those with every event of the path). */
  writes: number;
}

/** The leg whose ack completed the quorum: the W-th acked leg by ack time. */
export function quorumLeg(w: JoinedWrite): JoinedLeg | null {
  const acked = w.legs.filter((l) => l.ackUs !== null).sort((a, b) => a.ackUs! - b.ackUs!);
  return acked[w.quorum - 1] ?? null;
}

/** The components of one write in COMPONENTS order, or null when an event of its path is missing. */
export function writeComponents(w: JoinedWrite): number[] | null {
  const l = quorumLeg(w);
  if (l === null) return null;
  const t = [
    w.intendedUs,
    w.clientSentUs,
    w.leaderReceivedUs,
    w.versionUs,
    l.scheduledUs,
    l.targetDelayUs,
    l.firedUs,
    l.sentUs,
    l.receivedUs,
    l.appliedUs,
    l.ackUs,
    w.quorumUs,
    w.responseUs,
    w.clientReceivedUs,
  ];
  if (t.some((x) => x === null)) return null;
  const [
    intended,
    sent,
    leaderIn,
    version,
    scheduled,
    target,
    fired,
    legSent,
    received,
    applied,
    ack,
    quorum,
    response,
    clientIn,
  ] = t as number[];
  return [
    sent - intended,
    leaderIn - sent,
    version - leaderIn,
    scheduled - version,
    target,
    fired - scheduled - target,
    legSent - fired,
    received - legSent,
    applied - received,
    ack - applied,
    quorum - ack,
    response - quorum,
    clientIn - response,
  ];
}

function stats(values: number[]): { mean: number; p50: number; p99: number } {
  const sorted = Float64Array.from(values).sort();
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  return { mean, p50: sortedQuantile(sorted, 0.5), p99: sortedQuantile(sorted, 0.99) };
}

const r1 = (x: number): number => Math.round(x * 10) / 10;

/** Decomposition rows of one quorum step (empty when no write has a complete path). */
export function decompose(quorum: number, writes: readonly JoinedWrite[]): DecompositionRow[] {
  const per = writes
    .filter((w) => w.quorum === quorum)
    .map(writeComponents)
    .filter((c): c is number[] => c !== null);
  if (per.length === 0) return [];
  const total = stats(per.map((c) => c.reduce((s, v) => s + v, 0)));
  const row = (component: Component | 'total', s: { mean: number; p50: number; p99: number }): DecompositionRow => ({
    quorum,
    component,
    mean_us: r1(s.mean),
    p50_us: r1(s.p50),
    p99_us: r1(s.p99),
    share: total.mean === 0 ? 0 : Math.round((s.mean / total.mean) * 1e4) / 1e4,
    writes: per.length,
  });
  return [...COMPONENTS.map((name, i) => row(name, stats(per.map((c) => c[i]!)))), row('total', total)];
}
