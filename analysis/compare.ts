/**
 * The model beside the measurement: one row per quorum of a run, and the read-quorum table.
 * Pure given a loaded run (no I/O), so the numbers can be tested without writing files.
 */
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import {
  expectedStaleFollowers,
  fullyVisibleProbability,
  readQuorumStaleFromCounts,
  readQuorumStaleProbability,
  staleFraction,
  writeDelayMeanUs,
  writeDelayQuantileUs,
  type UniformDelayModel,
} from './model.ts';
import { simulateQuorum, sortedQuantile } from './montecarlo.ts';
import type { RunData, SummaryRow } from './read-run.ts';
import type { TraceComparison } from './trace-analysis.ts';
import type { RunMeta } from '../contracts/meta.ts';

export interface CompareOptions {
  /** Monte Carlo trials per quorum for the realised-delay model; default 20 000. */
  monteCarloTrials?: number;
  /** Seed of that Monte Carlo; default the run's seed from meta.json, else 1. */
  seed?: number;
  /**
   * A zero-delay run of the same harness (--min-delay 0 --max-delay 0): its latency per quorum is
   * the HTTP/processing overhead, subtracted into the measured_minus_baseline_* columns.
   */
  baseline?: RunData | null;
}

/** One row of model.csv. `model_*` = predicted, `measured_*` = from the run; µs unless named otherwise. */
export interface ModelRow {
  quorum: number;
  followers: number;
  min_delay_ms: number;
  max_delay_ms: number;
  /** d_(W) of Uniform[a, b] delays: the injected delay the leader waits for, no network or HTTP time. */
  model_latency_mean_us: number;
  model_latency_p50_us: number;
  model_latency_p99_us: number;
  /** d_(W) by Monte Carlo from the delays the leader actually realised (meta.json leaderStats); null if absent. */
  model_realised_latency_mean_us: number | null;
  model_realised_latency_p50_us: number | null;
  model_realised_latency_p99_us: number | null;
  measured_latency_mean_us: number;
  measured_latency_p50_us: number;
  measured_latency_p99_us: number;
  /**
   * Half-width of the 95 % interval of the measured mean, µs: 1.96 · latency_sd_us / √writes_ok
   * (sampling error only; null when summary.csv has no latency_sd_us).
   */
  measured_latency_mean_ci95_us: number | null;
  /** Mean latency of the zero-delay baseline run at this quorum; null without a baseline. */
  baseline_overhead_mean_us: number | null;
  measured_minus_baseline_mean_us: number | null;
  measured_minus_baseline_p50_us: number | null;
  measured_minus_baseline_p99_us: number | null;
  /** measured mean − model mean: HTTP, network legs, scheduling and timer lateness together. */
  measured_minus_model_mean_us: number;
  /** g: reads-weighted mean follower read delay (ack received → read reply), the gap fed to the model. */
  read_gap_us: number | null;
  model_stale_fraction: number | null;
  measured_stale_fraction: number | null;
  /** The stale fraction by Monte Carlo with the realised delays (heavy tails under load); null if absent. */
  model_realised_stale_fraction: number | null;
  model_stale_followers_mean: number | null;
  measured_stale_followers_mean: number | null;
  /** The model at g = 0: (N − W)/N, staleness at the instant of the ack. */
  model_stale_fraction_at_ack: number;
  converged: boolean;
  mismatched_keys: number;
}

export interface ReadQuorumRow {
  quorum: number;
  read_quorum: number;
  /** W + R > N: every read set meets an acked follower, so a stale read is impossible. */
  strict_quorum: boolean;
  model_stale_probability: number | null;
  /** Monte Carlo with the realised delays, like model_realised_stale_fraction. */
  model_realised_stale_probability: number | null;
  measured_stale_probability: number | null;
}

export interface VisibilityModelPoint {
  quorum: number;
  offset_us: number;
  model_fully_visible_fraction: number;
}

export interface Comparison {
  followers: number;
  rows: ModelRow[];
  readQuorums: ReadQuorumRow[];
  /** Model curves on a fine offset grid, for the visibility plot; empty without visibility.csv. */
  visibilityModel: VisibilityModelPoint[];
  /** The baseline run's folder, when one was given. */
  baselineDir: string | null;
  /** One-clock figures from the run's trace_q<W>.csv (set by analyzeRun; absent when not computed). */
  trace?: TraceComparison;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** 95 % half-width of a mean from its standard deviation and count (normal approximation). */
function meanCi95Us(sdUs: number | null | undefined, n: number): number | null {
  if (sdUs === null || sdUs === undefined || !(n > 1)) return null;
  return round((1.96 * sdUs) / Math.sqrt(n), 1);
}

function roundOrNull(x: number | null, digits: number): number | null {
  return x === null || !Number.isFinite(x) ? null : round(x, digits);
}

function modelOf(row: SummaryRow, followers: number): UniformDelayModel {
  return { followers, minDelayUs: row.min_delay_ms * 1000, maxDelayUs: row.max_delay_ms * 1000 };
}

/**
 * The realised replication delays of quorum W as 1000 equally spaced quantiles (p = 0.05 %,
 * 0.15 %, … 99.95 %) of the leader's HDR histogram: resampling those approximates the measured
 * distribution to within the histogram's 0.1 % value resolution and 0.1 % probability steps.
 */
export function realisedDelaySamples(meta: RunMeta, quorum: number): number[] | null {
  const encoded = meta.leaderStats[String(quorum)]?.delays?.realisedHdr;
  if (typeof encoded !== 'string' || encoded === '') return null;
  try {
    const h = decodeFromCompressedBase64(encoded, 32, false);
    if (h.totalCount === 0) return null;
    const samples: number[] = [];
    for (let i = 0; i < 1000; i++) samples.push(h.getValueAtPercentile((i + 0.5) / 10));
    h.destroy();
    return samples;
  } catch {
    // A corrupt histogram costs only the realised-delay model columns, not the analysis.
    return null;
  }
}

function readGapUs(run: RunData, row: SummaryRow): number | null {
  const followers = run.staleness.filter(
    (r) => r.quorum === row.quorum && r.replica !== 'leader' && r.reads > 0 && r.read_delay_mean_us !== null,
  );
  const reads = followers.reduce((s, r) => s + r.reads, 0);
  if (reads > 0) return followers.reduce((s, r) => s + r.reads * r.read_delay_mean_us!, 0) / reads;
  return row.follower_reads > 0 ? row.read_delay_mean_us : null;
}

function staleCountWeights(run: RunData, quorum: number): number[] | null {
  const weights = new Array<number>(run.followers + 1).fill(0);
  for (const r of run.staleCounts) if (r.quorum === quorum) weights[r.stale_followers]! += r.writes;
  return weights.some((w) => w > 0) ? weights : null;
}

export function compareRun(run: RunData, options: CompareOptions = {}): Comparison {
  const n = run.followers;
  const seed = options.seed ?? (typeof run.meta.seed === 'number' ? run.meta.seed : 1);
  const trials = options.monteCarloTrials ?? 20_000;
  const measuredRows = run.summary.filter((r) => r.quorum <= n).sort((x, y) => x.quorum - y.quorum);
  const baselineFor = (q: number): SummaryRow | null => options.baseline?.summary.find((b) => b.quorum === q) ?? null;

  const rows: ModelRow[] = [];
  const readQuorums: ReadQuorumRow[] = [];
  for (const row of measuredRows) {
    const w = row.quorum;
    const model = modelOf(row, n);
    const samples = realisedDelaySamples(run.meta, w);
    const g = readGapUs(run, row);
    // Followers' delays are drawn independently from the pooled realised distribution; under CPU
    // contention real delays are correlated (one stall delays several timers), which this ignores.
    const mc = samples
      ? simulateQuorum({
          followers: n,
          writeQuorum: w,
          replicationDelay: { kind: 'samples', samplesUs: samples },
          readGap: { kind: 'constant', us: g ?? 0 },
          trials,
          seed: seed + w,
        })
      : null;
    const base = baselineFor(w);
    const weights = staleCountWeights(run, w);
    const measuredStale = row.follower_reads > 0 ? row.stale_reads / row.follower_reads : null;
    const modelMean = writeDelayMeanUs(model, w);
    rows.push({
      quorum: w,
      followers: n,
      min_delay_ms: row.min_delay_ms,
      max_delay_ms: row.max_delay_ms,
      model_latency_mean_us: round(modelMean, 1),
      model_latency_p50_us: round(writeDelayQuantileUs(model, w, 0.5), 1),
      model_latency_p99_us: round(writeDelayQuantileUs(model, w, 0.99), 1),
      model_realised_latency_mean_us: mc ? round(mc.latencyMeanUs, 1) : null,
      model_realised_latency_p50_us: mc ? round(sortedQuantile(mc.latencyUs, 0.5), 1) : null,
      model_realised_latency_p99_us: mc ? round(sortedQuantile(mc.latencyUs, 0.99), 1) : null,
      measured_latency_mean_us: row.latency_mean_us,
      measured_latency_p50_us: row.latency_p50_us,
      measured_latency_p99_us: row.latency_p99_us,
      measured_latency_mean_ci95_us: meanCi95Us(row.latency_sd_us, row.writes_ok),
      baseline_overhead_mean_us: base ? base.latency_mean_us : null,
      measured_minus_baseline_mean_us: base ? round(row.latency_mean_us - base.latency_mean_us, 1) : null,
      measured_minus_baseline_p50_us: base ? round(row.latency_p50_us - base.latency_p50_us, 1) : null,
      measured_minus_baseline_p99_us: base ? round(row.latency_p99_us - base.latency_p99_us, 1) : null,
      measured_minus_model_mean_us: round(row.latency_mean_us - modelMean, 1),
      read_gap_us: roundOrNull(g, 1),
      model_stale_fraction: g === null ? null : round(staleFraction(model, w, g), 6),
      measured_stale_fraction: roundOrNull(measuredStale, 6),
      model_realised_stale_fraction: mc && g !== null ? round(mc.staleFraction, 6) : null,
      model_stale_followers_mean: g === null ? null : round(expectedStaleFollowers(model, w, g), 6),
      measured_stale_followers_mean: weights
        ? round(weights.reduce((s, c, k) => s + k * c, 0) / weights.reduce((s, c) => s + c, 0), 6)
        : null,
      model_stale_fraction_at_ack: round(staleFraction(model, w, 0), 6),
      converged: row.converged,
      mismatched_keys: row.mismatched_keys,
    });
    for (let r = 1; r <= n; r++) {
      readQuorums.push({
        quorum: w,
        read_quorum: r,
        strict_quorum: w + r > n,
        model_stale_probability: g === null ? null : round(readQuorumStaleProbability(model, w, r, g), 6),
        model_realised_stale_probability: mc && g !== null ? round(mc.readQuorumStale[r - 1]!, 6) : null,
        measured_stale_probability: weights ? round(readQuorumStaleFromCounts(weights, n, r), 6) : null,
      });
    }
  }

  const visibilityModel: VisibilityModelPoint[] = [];
  if (run.visibility && run.visibility.length > 0) {
    const maxOffset = Math.max(...run.visibility.map((v) => v.realised_offset_mean_us ?? v.offset_us));
    for (const row of measuredRows) {
      const g = readGapUs(run, row) ?? 0;
      const model = modelOf(row, n);
      // The probe reads reach the followers about g after the probe offset, like the read-backs.
      for (let i = 0; i <= 100; i++) {
        const t = (maxOffset * i) / 100;
        visibilityModel.push({
          quorum: row.quorum,
          offset_us: round(t, 1),
          model_fully_visible_fraction: round(fullyVisibleProbability(model, row.quorum, t + g), 6),
        });
      }
    }
  }
  return { followers: n, rows, readQuorums, visibilityModel, baselineDir: options.baseline?.dir ?? null };
}
