/**
 * The WARS model on measured ground (PBS, Bailis et al. VLDB 2012), fed by the trace of one quorum
 * step. Each simulated write takes one traced write's measured overheads as a whole and draws fresh
 * injected delays:
 *   follower i applies at  o_i + d_i        o_i = applied − version − that leg's drawn delay (send,
 *                                           batching, timer lateness, network, follower work)
 *   its ack is processed at o_i + d_i + a_i  a_i = ack − applied (return leg, leader's loop)
 *   the client has the answer at T + c       T = the W-th ack, c = client received − quorum
 *   the read reaches follower j at T + c + r_j   r_j = served − client received
 * and the read is stale iff o_j + d_j > T + c + r_j. The d_i are resampled from the drawn delays of
 * the trace (i.i.d. by construction). The overheads of one write are kept together, not resampled
 * leg by leg as in PBS: the legs of a write share the leader's stalls (one late engine wake-up
 * delays every leg due in it), and independent resampling mistakes those for staleness.
 */
import { createRng } from '../lib/rng.ts';
import { choose } from './model.ts';
import type { MonteCarloResult } from './montecarlo.ts';
import type { JoinedWrite } from './trace-join.ts';

/** One traced write's measured overheads, per follower in order; null when an event is missing. */
export interface WriteOverheads {
  /** o_i. */
  applyOverheadUs: number[];
  /** a_i. */
  ackLegUs: number[];
  /** The delay each leg drew in the traced write. */
  drawnDelayUs: number[];
  /** c. */
  clientLegUs: number;
  /** r_j. */
  readGapUs: number[];
}

const nonNeg = (x: number): number => Math.max(0, x);

export function writeOverheads(w: JoinedWrite): WriteOverheads | null {
  if (w.versionUs === null || w.quorumUs === null || w.clientReceivedUs === null) return null;
  const o: number[] = [];
  const a: number[] = [];
  const r: number[] = [];
  const d: number[] = [];
  for (const l of w.legs) {
    if (l.targetDelayUs !== null) d.push(l.targetDelayUs);
    if (l.appliedUs === null || l.ackUs === null || l.targetDelayUs === null || l.applied !== true) return null;
    o.push(nonNeg(l.appliedUs - w.versionUs - l.targetDelayUs));
    a.push(nonNeg(l.ackUs - l.appliedUs));
    const read = w.reads.find((x) => x.replica === `follower${l.follower}`);
    if (read === undefined || read.servedUs === null) return null;
    r.push(nonNeg(read.servedUs - w.clientReceivedUs));
  }
  return {
    applyOverheadUs: o,
    ackLegUs: a,
    drawnDelayUs: d,
    clientLegUs: nonNeg(w.clientReceivedUs - w.quorumUs),
    readGapUs: r,
  };
}

/**
 * An overhead above the follower's free-flowing one by more than this (timer and scheduling jitter)
 * means the leg waited for something busy (the engine, the follower's loop, the leader's loop), µs.
 * FREE_QUANTILE and this slack were chosen on traces of a heavily loaded 2-core machine (load 12–15):
 * p5/50 µs kept the model within 0.5 pp of the measured stale fraction at every W there, the median/250 µs
 * first tried overestimated W = 1 by 1.5–3 pp.
 */
export const STALL_SLACK_US = 50;

/** The free-flowing overhead: a low quantile, since on a busy machine even the median leg waited for something. */
export const FREE_QUANTILE = 0.05;

function lowQuantile(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) * FREE_QUANTILE)]!;
}

/**
 * When an event follows its cause at `newStartUs` instead of the measured `startUs`, `overheadUs`
 * after it in the trace: free-flowing (overhead near the free-flowing `freeUs`) it keeps its overhead; in a
 * stall (well above) it waited for the stall's end, which a later start can pass but an earlier one
 * cannot precede. Used for the apply (start = the drawn delay) and for the ack (start = the apply).
 */
export function applyAt(overheadUs: number, startUs: number, freeUs: number, newStartUs: number): number {
  if (overheadUs <= freeUs + STALL_SLACK_US) return newStartUs + overheadUs;
  return Math.max(newStartUs + freeUs, startUs + overheadUs);
}

/** The drawn (target) delays of the trace, µs. */
export function drawnDelays(writes: readonly JoinedWrite[]): number[] {
  return writes.flatMap((w) => w.legs.map((l) => l.targetDelayUs).filter((d): d is number => d !== null));
}

export interface TraceModelOptions {
  writeQuorum: number;
  /** Offsets after the client received the ack, µs, for the t-visibility curve. */
  visibilityOffsetsUs?: readonly number[];
  trials?: number;
  seed?: number;
}

/** The Monte Carlo from the trace, or null when no traced write has every event (or W exceeds the followers). */
export function traceModel(writes: readonly JoinedWrite[], options: TraceModelOptions): MonteCarloResult | null {
  const pool = writes.map(writeOverheads).filter((x): x is WriteOverheads => x !== null);
  const delays = drawnDelays(writes);
  const n = pool[0]?.applyOverheadUs.length ?? 0;
  const w = options.writeQuorum;
  if (pool.length === 0 || delays.length === 0 || w < 1 || w > n || pool.some((p) => p.applyOverheadUs.length !== n))
    return null;
  // Per follower: the free-flowing overheads (a low quantile over the traced writes).
  const freeUs = Array.from({ length: n }, (_, i) => lowQuantile(pool.map((p) => p.applyOverheadUs[i]!)));
  const ackFreeUs = Array.from({ length: n }, (_, i) => lowQuantile(pool.map((p) => p.ackLegUs[i]!)));
  const trials = options.trials ?? 20_000;
  const offsets = options.visibilityOffsetsUs ?? [];
  const rng = createRng(options.seed ?? 9);
  const latency = new Float64Array(trials);
  const staleCounts = new Array<number>(n + 1).fill(0);
  const visible = new Array<number>(offsets.length).fill(0);
  const applied = new Float64Array(n);
  const acked = new Float64Array(n);
  let sum = 0;
  for (let t = 0; t < trials; t++) {
    const p = pool[rng.int(pool.length)]!;
    let last = 0;
    for (let i = 0; i < n; i++) {
      applied[i] = applyAt(p.applyOverheadUs[i]!, p.drawnDelayUs[i]!, freeUs[i]!, delays[rng.int(delays.length)]!);
      const measuredApplied = p.drawnDelayUs[i]! + p.applyOverheadUs[i]!;
      acked[i] = applyAt(p.ackLegUs[i]!, measuredApplied, ackFreeUs[i]!, applied[i]!);
      if (applied[i]! > last) last = applied[i]!;
    }
    const ackAt = Float64Array.from(acked).sort()[w - 1]!;
    latency[t] = ackAt;
    sum += ackAt;
    const clientAt = ackAt + p.clientLegUs;
    let stale = 0;
    for (let j = 0; j < n; j++) if (applied[j]! > clientAt + p.readGapUs[j]!) stale++;
    staleCounts[stale]!++;
    for (let k = 0; k < offsets.length; k++) if (last <= clientAt + offsets[k]!) visible[k]!++;
  }
  latency.sort();
  const dist = staleCounts.map((c) => c / trials);
  const expected = dist.reduce((s, q, k) => s + k * q, 0);
  const readQuorumStale = Array.from({ length: n }, (_, r) =>
    dist.reduce((s, q, k) => s + (q * choose(k, r + 1)) / choose(n, r + 1), 0),
  );
  return {
    trials,
    latencyUs: latency,
    latencyMeanUs: sum / trials,
    staleCountDistribution: dist,
    expectedStaleFollowers: expected,
    staleFraction: expected / n,
    readQuorumStale,
    fullyVisible: offsets.map((offsetUs, k) => ({ offsetUs, probability: visible[k]! / trials })),
  };
}
