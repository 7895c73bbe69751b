/**
 * The WARS model on measured ground (PBS, Bailis et al. VLDB 2012): the Monte Carlo of
 * analysis/montecarlo.ts fed with the legs the trace measured for one quorum step, instead of the
 * injected delay alone:
 *   write leg   version assigned on the leader → applied on follower i (injected delay included),
 *   ack leg     applied → ack processed on the leader,
 *   client leg  quorum reached → client received the response,
 *   read gap    client received → read served by follower j.
 * Each is resampled independently from its pooled measurements, as PBS does.
 */
import { simulateQuorum, type MonteCarloResult } from './montecarlo.ts';
import type { JoinedWrite } from './trace-join.ts';

export interface TraceLegs {
  writeLegUs: number[];
  ackLegUs: number[];
  clientLegUs: number[];
  readGapUs: number[];
}

const gap = (later: number | null, earlier: number | null): number | null =>
  later === null || earlier === null ? null : Math.max(0, later - earlier);

/** The measured legs of one quorum step's writes. */
export function traceLegs(writes: readonly JoinedWrite[]): TraceLegs {
  const legs: TraceLegs = { writeLegUs: [], ackLegUs: [], clientLegUs: [], readGapUs: [] };
  const push = (to: number[], v: number | null): void => {
    if (v !== null) to.push(v);
  };
  for (const w of writes) {
    for (const l of w.legs) {
      // A message that found a newer version there says nothing about this write's leg.
      if (l.applied !== true) continue;
      push(legs.writeLegUs, gap(l.appliedUs, w.versionUs));
      push(legs.ackLegUs, gap(l.ackUs, l.appliedUs));
    }
    push(legs.clientLegUs, gap(w.clientReceivedUs, w.quorumUs));
    for (const r of w.reads) if (r.replica !== 'leader') push(legs.readGapUs, gap(r.servedUs, w.clientReceivedUs));
  }
  return legs;
}

export interface TraceModelOptions {
  writeQuorum: number;
  followers?: number;
  /** Offsets after the client received the ack, µs, for the t-visibility curve. */
  visibilityOffsetsUs?: readonly number[];
  trials?: number;
  seed?: number;
}

/** The Monte Carlo from the trace's legs, or null when some leg has no measurement. */
export function traceModel(writes: readonly JoinedWrite[], options: TraceModelOptions): MonteCarloResult | null {
  const legs = traceLegs(writes);
  if (Object.values(legs).some((v: number[]) => v.length === 0)) return null;
  return simulateQuorum({
    followers: options.followers ?? 5,
    writeQuorum: options.writeQuorum,
    replicationDelay: { kind: 'samples', samplesUs: legs.writeLegUs },
    ackLeg: { kind: 'samples', samplesUs: legs.ackLegUs },
    clientLeg: { kind: 'samples', samplesUs: legs.clientLegUs },
    readGap: { kind: 'samples', samplesUs: legs.readGapUs },
    visibilityOffsetsUs: options.visibilityOffsetsUs ?? [],
    trials: options.trials ?? 20_000,
    seed: options.seed ?? 9,
  });
}
