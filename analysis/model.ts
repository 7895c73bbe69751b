/**
 * The closed-form model of semi-synchronous replication with a write quorum (WARS of
 * Probabilistically Bounded Staleness, Bailis et al. VLDB 2012, with the request leg folded
 * into the injected delay):
 *
 *   N followers, replication delays d_1..d_N i.i.d. Uniform[a, b], write quorum W.
 *   The write waits for d_(W), the W-th smallest delay.
 *   A follower j is stale for a read that reaches it g after the W-th fastest follower applied
 *   iff d_j > d_(W) + g.
 *
 * With u_i = (d_i − a)/(b − a) ~ Uniform[0, 1] and h = g/(b − a), uniform spacings are
 * exchangeable, so u_(W+i) − u_(W) has the law of u_(i). The stale followers are the slowest
 * ones, so K ≥ m iff u_(N−m+1) − u_(W) > h, and exactly
 *   P(K ≥ m) = P(u_(N−W−m+1) > h) = P(Binomial(N, h) ≤ N−W−m)   for 1 ≤ m ≤ N − W, 0 beyond.
 * Everything below (means, stale fraction, read quorums, visibility) follows from that.
 *
 * All times are microseconds; pure functions, no state.
 */
import { QuorumLabError } from '../contracts/errors.ts';

/** Replication delays Uniform[minDelayUs, maxDelayUs] to each of `followers` followers. */
export interface UniformDelayModel {
  /** Number of followers N (the leader is not counted). */
  followers: number;
  /** a: lower bound of the injected delay, µs. */
  minDelayUs: number;
  /** b: upper bound of the injected delay, µs. */
  maxDelayUs: number;
}

export class ModelError extends QuorumLabError {
  constructor(message: string) {
    super('QL_ERR_MODEL_INPUT', message);
  }
}

/** The same model from millisecond bounds (MIN_DELAY / MAX_DELAY are given in ms). */
export function uniformModelFromMs(minDelayMs: number, maxDelayMs: number, followers = 5): UniformDelayModel {
  return checkModel({ followers, minDelayUs: minDelayMs * 1000, maxDelayUs: maxDelayMs * 1000 });
}

function checkModel(model: UniformDelayModel): UniformDelayModel {
  const { followers, minDelayUs, maxDelayUs } = model;
  if (!Number.isInteger(followers) || followers < 1)
    throw new ModelError(`followers must be an integer ≥ 1, got ${followers}`);
  if (!Number.isFinite(minDelayUs) || !Number.isFinite(maxDelayUs) || minDelayUs < 0 || maxDelayUs < minDelayUs) {
    throw new ModelError(`delays must satisfy 0 ≤ minDelayUs ≤ maxDelayUs, got [${minDelayUs}, ${maxDelayUs}]`);
  }
  return model;
}

function checkQuorum(model: UniformDelayModel, quorum: number, name = 'write quorum W'): void {
  if (!Number.isInteger(quorum) || quorum < 1 || quorum > model.followers) {
    throw new ModelError(`${name} must be an integer in 1..${model.followers}, got ${quorum}`);
  }
}

function checkTime(us: number, name: string): void {
  if (!Number.isFinite(us) || us < 0) throw new ModelError(`${name} must be a finite number ≥ 0 µs, got ${us}`);
}

/** C(n, k) as a float; exact for the small n used here. */
export function choose(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let r = 1;
  const kk = Math.min(k, n - k);
  for (let i = 1; i <= kk; i++) r = (r * (n - kk + i)) / i;
  return r;
}

/** P(Binomial(n, p) = k). */
export function binomialPmf(n: number, p: number, k: number): number {
  if (k < 0 || k > n) return 0;
  return choose(n, k) * p ** k * (1 - p) ** (n - k);
}

/** P(Binomial(n, p) ≥ k). */
export function binomialAtLeast(n: number, p: number, k: number): number {
  if (k <= 0) return 1;
  let s = 0;
  for (let j = k; j <= n; j++) s += binomialPmf(n, p, j);
  return Math.min(1, s);
}

/** h = g/(b − a) clamped to [0, 1]; a zero-width delay range means every follower applies at once. */
function normalisedGap(model: UniformDelayModel, gapUs: number): number {
  const width = model.maxDelayUs - model.minDelayUs;
  if (width === 0) return 1;
  return Math.min(1, gapUs / width);
}

/** E[d_(W)] = a + (b − a)·W/(N + 1), µs. */
export function writeDelayMeanUs(model: UniformDelayModel, quorum: number): number {
  checkModel(model);
  checkQuorum(model, quorum);
  return model.minDelayUs + ((model.maxDelayUs - model.minDelayUs) * quorum) / (model.followers + 1);
}

/** P(d_(W) ≤ t) = P(Binomial(N, x) ≥ W) with x = (t − a)/(b − a). */
export function writeDelayCdf(model: UniformDelayModel, quorum: number, delayUs: number): number {
  checkModel(model);
  checkQuorum(model, quorum);
  if (delayUs < model.minDelayUs) return 0;
  if (delayUs >= model.maxDelayUs) return 1;
  const x = (delayUs - model.minDelayUs) / (model.maxDelayUs - model.minDelayUs);
  return binomialAtLeast(model.followers, x, quorum);
}

/**
 * The p-quantile of d_(W), µs, for p in [0, 1] (not percent), by bisection on
 * P(Binomial(N, x) ≥ W) = p, which is continuous and increasing in x.
 */
export function writeDelayQuantileUs(model: UniformDelayModel, quorum: number, p: number): number {
  checkModel(model);
  checkQuorum(model, quorum);
  if (!(p >= 0 && p <= 1)) throw new ModelError(`quantile p must be in [0, 1], got ${p}`);
  let lo = 0;
  let hi = 1;
  // 60 halvings take the bracket below 1e-18 of (b − a): beyond double precision of the result.
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (binomialAtLeast(model.followers, mid, quorum) < p) lo = mid;
    else hi = mid;
  }
  return model.minDelayUs + (model.maxDelayUs - model.minDelayUs) * ((lo + hi) / 2);
}

/**
 * Distribution of K, the number of stale followers for a read that reaches every follower
 * `gapUs` after the W-th fastest follower applied: index k holds P(K = k), k = 0..N.
 */
export function staleFollowersDistribution(model: UniformDelayModel, quorum: number, gapUs: number): number[] {
  checkModel(model);
  checkQuorum(model, quorum);
  checkTime(gapUs, 'gapUs');
  const n = model.followers;
  const h = normalisedGap(model, gapUs);
  // atLeast[m] = P(K ≥ m) = P(Binomial(N, h) ≤ N − W − m) for 1 ≤ m ≤ N − W (see the header).
  const atLeast = new Array<number>(n + 2).fill(0);
  atLeast[0] = 1;
  for (let m = 1; m <= n - quorum && h < 1; m++) {
    let cdf = 0;
    for (let j = 0; j <= n - quorum - m; j++) cdf += binomialPmf(n, h, j);
    atLeast[m] = Math.min(1, cdf);
  }
  const dist: number[] = [];
  for (let k = 0; k <= n; k++) dist.push(Math.max(0, atLeast[k]! - atLeast[k + 1]!));
  return dist;
}

/**
 * E[K] = Σ_{j=0}^{N−W−1} (N−W−j)·C(N,j)·h^j·(1−h)^{N−j}, h = g/(b − a): expected stale followers.
 */
export function expectedStaleFollowers(model: UniformDelayModel, quorum: number, gapUs: number): number {
  checkModel(model);
  checkQuorum(model, quorum);
  checkTime(gapUs, 'gapUs');
  const n = model.followers;
  const h = normalisedGap(model, gapUs);
  if (h >= 1) return 0;
  let s = 0;
  for (let j = 0; j <= n - quorum - 1; j++) s += (n - quorum - j) * binomialPmf(n, h, j);
  return s;
}

/** Probability that a read from one random follower, `gapUs` after the W-th apply, is stale: E[K]/N. */
export function staleFraction(model: UniformDelayModel, quorum: number, gapUs: number): number {
  return expectedStaleFollowers(model, quorum, gapUs) / model.followers;
}

/**
 * Probability that all N followers hold the write `afterAckUs` after the client got the ack:
 * P(Binomial(N, h_t) ≥ N − W), h_t = (s_a + t)/(b − a), s_a = the ack's return leg (default 0).
 */
export function fullyVisibleProbability(
  model: UniformDelayModel,
  quorum: number,
  afterAckUs: number,
  ackReturnUs = 0,
): number {
  checkModel(model);
  checkQuorum(model, quorum);
  checkTime(afterAckUs, 'afterAckUs');
  checkTime(ackReturnUs, 'ackReturnUs');
  const h = normalisedGap(model, ackReturnUs + afterAckUs);
  return binomialAtLeast(model.followers, h, model.followers - quorum);
}

/**
 * Stale probability of a read quorum: R distinct followers chosen at random, newest version wins,
 * so the read is stale only if all R are stale. Given the stale-count distribution P(K = k),
 *   P_R = Σ_k P(k)·C(k, R)/C(N, R).
 * `staleCountWeights[k]` may be probabilities or raw counts (they are normalised).
 */
export function readQuorumStaleFromCounts(
  staleCountWeights: readonly number[],
  followers: number,
  readQuorum: number,
): number {
  if (!Number.isInteger(readQuorum) || readQuorum < 1 || readQuorum > followers) {
    throw new ModelError(`read quorum R must be an integer in 1..${followers}, got ${readQuorum}`);
  }
  if (staleCountWeights.length > followers + 1) {
    throw new ModelError(
      `stale-count distribution has ${staleCountWeights.length} entries, at most ${followers + 1} expected`,
    );
  }
  let total = 0;
  let stale = 0;
  staleCountWeights.forEach((w, k) => {
    if (!Number.isFinite(w) || w < 0) throw new ModelError(`stale-count weight for k=${k} must be ≥ 0, got ${w}`);
    total += w;
    stale += (w * choose(k, readQuorum)) / choose(followers, readQuorum);
  });
  if (total === 0) throw new ModelError('stale-count distribution is empty (all weights 0)');
  return stale / total;
}

/** Predicted P_R from the exact stale-count distribution; 0 whenever W + R > N (strict quorum). */
export function readQuorumStaleProbability(
  model: UniformDelayModel,
  quorum: number,
  readQuorum: number,
  gapUs: number,
): number {
  checkQuorum(model, readQuorum, 'read quorum R');
  if (quorum + readQuorum > model.followers) {
    checkQuorum(model, quorum);
    return 0;
  }
  return readQuorumStaleFromCounts(staleFollowersDistribution(model, quorum, gapUs), model.followers, readQuorum);
}
