/**
 * Seeded Monte Carlo of the replication model in analysis/model.ts, generalised to the full
 * WARS picture: each follower i gets the write after a request leg w_i plus the injected delay d_i
 * (applies at w_i + d_i), and its ack takes a return leg a_i to the leader. The leader acks the
 * client at T = the W-th smallest of w_i + d_i + a_i. A read reaches follower j at T + r_j and is
 * stale iff w_j + d_j > T + r_j. Every leg may be uniform, constant, or a measured distribution,
 * so the model can be fed the delays a run actually realised. With w = a = 0 and r = g it is
 * exactly the closed-form model (the tests check that).
 */
import { createRng, type Rng } from '../lib/rng.ts';
import { choose, ModelError } from './model.ts';

/** A distribution of a time in µs. */
export type DelayDistribution =
  | { kind: 'constant'; us: number }
  | { kind: 'uniform'; minUs: number; maxUs: number }
  /** Empirical: resampled with replacement. */
  | { kind: 'samples'; samplesUs: readonly number[] }
  /** Weighted empirical (e.g. an HDR histogram's buckets): value valuesUs[i] with weight counts[i]. */
  | { kind: 'histogram'; valuesUs: readonly number[]; counts: readonly number[] };

export interface MonteCarloOptions {
  /** N followers; default 5. */
  followers?: number;
  /** W: acks the leader waits for, 1..N. */
  writeQuorum: number;
  /** Injected replication delay d_i per follower, µs. */
  replicationDelay: DelayDistribution;
  /** Leader → follower network leg w_i, µs; default 0. */
  requestLeg?: DelayDistribution;
  /** Follower → leader ack leg a_i, µs; default 0. */
  ackLeg?: DelayDistribution;
  /** r_j: from the leader's ack (or, with clientLeg, the client's receipt of it) to the read reaching follower j, drawn per follower per write, µs; default 0. */
  readGap?: DelayDistribution;
  /** From the W-th ack at the leader to the client receiving the response, drawn per write, µs; default none (0). Visibility offsets then count from the client's receipt. */
  clientLeg?: DelayDistribution;
  /** Offsets after the ack, µs, at which to estimate P(all followers applied). */
  visibilityOffsetsUs?: readonly number[];
  /** Simulated writes; default 20 000. */
  trials?: number;
  /** PRNG seed (lib/rng.ts); the same seed gives the same result. */
  seed: number;
}

export interface MonteCarloResult {
  trials: number;
  /** T for every trial (time from sending to the W-th ack), ascending, µs. */
  latencyUs: Float64Array;
  latencyMeanUs: number;
  /** P(K = k) for k = 0..N, K = stale followers at the read. */
  staleCountDistribution: number[];
  expectedStaleFollowers: number;
  /** E[K]/N: stale probability of a read from one random follower. */
  staleFraction: number;
  /** Index R − 1 holds P(all R random followers stale), R = 1..N. */
  readQuorumStale: number[];
  fullyVisible: { offsetUs: number; probability: number }[];
}

const ZERO: DelayDistribution = { kind: 'constant', us: 0 };

/** A sampler for a distribution; validates it once. */
export function createSampler(dist: DelayDistribution, rng: Rng, name = 'distribution'): () => number {
  const bad = (why: string): never => {
    throw new ModelError(`${name}: ${why}`);
  };
  switch (dist.kind) {
    case 'constant':
      if (!Number.isFinite(dist.us) || dist.us < 0) bad(`constant must be ≥ 0 µs, got ${dist.us}`);
      return () => dist.us;
    case 'uniform': {
      const { minUs, maxUs } = dist;
      if (!Number.isFinite(minUs) || !Number.isFinite(maxUs) || minUs < 0 || maxUs < minUs)
        bad(`uniform needs 0 ≤ minUs ≤ maxUs, got [${minUs}, ${maxUs}]`);
      return () => minUs + (maxUs - minUs) * rng.next();
    }
    case 'samples': {
      const s = dist.samplesUs;
      if (s.length === 0) bad('no samples');
      const badAt = s.findIndex((v) => !(Number.isFinite(v) && v >= 0));
      if (badAt >= 0) bad(`sample ${badAt} must be ≥ 0 µs, got ${s[badAt]}`);
      return () => s[rng.int(s.length)]!;
    }
    case 'histogram': {
      const { valuesUs, counts } = dist;
      if (valuesUs.length !== counts.length || valuesUs.length === 0)
        bad('valuesUs and counts must be non-empty and of equal length');
      const cumulative = new Float64Array(counts.length);
      let total = 0;
      counts.forEach((c, i) => {
        if (!Number.isFinite(c) || c < 0) bad(`count ${i} must be ≥ 0, got ${c}`);
        const v = valuesUs[i]!;
        if (!Number.isFinite(v) || v < 0) bad(`value ${i} must be ≥ 0 µs, got ${v}`);
        total += c;
        cumulative[i] = total;
      });
      if (total === 0) bad('all counts are 0');
      return () => {
        const u = rng.next() * total;
        let lo = 0;
        let hi = cumulative.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cumulative[mid]! > u) hi = mid;
          else lo = mid + 1;
        }
        return valuesUs[lo]!;
      };
    }
    default:
      return bad(`unknown kind ${JSON.stringify((dist as { kind: unknown }).kind)}`);
  }
}

/** Linear-interpolated quantile of an ascending array, p in [0, 1]. */
export function sortedQuantile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = Math.min(1, Math.max(0, p)) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function simulateQuorum(options: MonteCarloOptions): MonteCarloResult {
  const n = options.followers ?? 5;
  const w = options.writeQuorum;
  const trials = options.trials ?? 20_000;
  if (!Number.isInteger(n) || n < 1) throw new ModelError(`followers must be an integer ≥ 1, got ${n}`);
  if (!Number.isInteger(w) || w < 1 || w > n)
    throw new ModelError(`write quorum W must be an integer in 1..${n}, got ${w}`);
  if (!Number.isInteger(trials) || trials < 1) throw new ModelError(`trials must be an integer ≥ 1, got ${trials}`);
  const offsets = options.visibilityOffsetsUs ?? [];
  offsets.forEach((t) => {
    if (!Number.isFinite(t) || t < 0) throw new ModelError(`visibility offsets must be ≥ 0 µs, got ${t}`);
  });

  const rng = createRng(options.seed);
  const delay = createSampler(options.replicationDelay, rng, 'replicationDelay');
  const request = createSampler(options.requestLeg ?? ZERO, rng, 'requestLeg');
  const ackLeg = createSampler(options.ackLeg ?? ZERO, rng, 'ackLeg');
  const readGap = createSampler(options.readGap ?? ZERO, rng, 'readGap');
  // Sampled only when given, so runs without it draw the same numbers as before.
  const clientLeg = options.clientLeg ? createSampler(options.clientLeg, rng, 'clientLeg') : () => 0;

  const latency = new Float64Array(trials);
  const staleCounts = new Array<number>(n + 1).fill(0);
  const visibleCounts = new Array<number>(offsets.length).fill(0);
  const applied = new Float64Array(n);
  const acked = new Float64Array(n);
  let sum = 0;

  for (let t = 0; t < trials; t++) {
    let lastApply = 0;
    for (let i = 0; i < n; i++) {
      applied[i] = request() + delay();
      acked[i] = applied[i]! + ackLeg();
      if (applied[i]! > lastApply) lastApply = applied[i]!;
    }
    acked.sort();
    const ackAt = acked[w - 1]!;
    latency[t] = ackAt;
    sum += ackAt;
    const clientAt = ackAt + clientLeg();
    let stale = 0;
    for (let j = 0; j < n; j++) if (applied[j]! > clientAt + readGap()) stale++;
    staleCounts[stale]!++;
    for (let o = 0; o < offsets.length; o++) if (lastApply <= clientAt + offsets[o]!) visibleCounts[o]!++;
  }
  latency.sort();

  const staleCountDistribution = staleCounts.map((c) => c / trials);
  const expected = staleCountDistribution.reduce((s, p, k) => s + k * p, 0);
  const readQuorumStale: number[] = [];
  for (let r = 1; r <= n; r++) {
    readQuorumStale.push(staleCountDistribution.reduce((s, p, k) => s + (p * choose(k, r)) / choose(n, r), 0));
  }
  return {
    trials,
    latencyUs: latency,
    latencyMeanUs: sum / trials,
    staleCountDistribution,
    expectedStaleFollowers: expected,
    staleFraction: expected / n,
    readQuorumStale,
    fullyVisible: offsets.map((offsetUs, o) => ({ offsetUs, probability: visibleCounts[o]! / trials })),
  };
}
