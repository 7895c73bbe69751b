/**
 * The answer first: what one more acknowledgement costs (µs per extra ack, measured and model) and
 * how stale a follower read is at each W (measured and model), then how far to trust those figures
 * (decomposition closure, the trace-fed model's error, trace/version agreement). The report opens
 * with these lines and the CLI prints them.
 */
import type { Comparison } from './compare.ts';
import { slope } from './report.ts';

export interface Headline {
  /** Least-squares slope of mean latency over W, µs per ack (null with fewer than two W). */
  costPerAckMeasuredUs: number | null;
  /** Half-width of its 95 % interval from each W's sampling error (null where a W lacks one). */
  costPerAckMeasuredCi95Us: number | null;
  /** The same slope of the uniform model's d(W) ((b − a)/(N + 1) µs). */
  costPerAckModelUs: number | null;
  /** The same slope of the trace-fed Monte Carlo's latency (version → W-th ack). */
  costPerAckTraceModelUs: number | null;
  stale: { quorum: number; measured: number | null; model: number | null; traceModel: number | null }[];
  /** Per W: |Σ decomposition − measured mean| / measured mean (null without a decomposition). */
  decompositionError: { quorum: number; error: number | null }[];
  /** Why the one-clock figures are missing (null when present). */
  traceSkipped: string | null;
  /** Reads where timelines and versions disagree, all W. */
  traceDisagreements: number;
}

const slopeOrNull = (pts: { w: number; y: number | null }[]): number | null => {
  const ok = pts.filter((p): p is { w: number; y: number } => p.y !== null && Number.isFinite(p.y));
  if (ok.length < 2) return null;
  const s = slope(
    ok.map((p) => p.w),
    ok.map((p) => p.y),
  );
  return Number.isFinite(s) ? s : null;
};

/**
 * 95 % half-width of the least-squares slope of independent means y_i (half-widths h_i) over x_i:
 * slope = Σ (x_i − x̄) y_i / Sxx, so its half-width is √(Σ (x_i − x̄)² h_i²) / Sxx.
 */
export function slopeCi95(pts: readonly { x: number; halfWidth: number | null }[]): number | null {
  if (pts.length < 2 || pts.some((p) => p.halfWidth === null)) return null;
  const xBar = pts.reduce((s, p) => s + p.x, 0) / pts.length;
  const sxx = pts.reduce((s, p) => s + (p.x - xBar) ** 2, 0);
  if (sxx === 0) return null;
  return Math.sqrt(pts.reduce((s, p) => s + (p.x - xBar) ** 2 * p.halfWidth! ** 2, 0)) / sxx;
}

export function headline(cmp: Comparison): Headline {
  const trace = cmp.trace;
  const perQ = (w: number) => trace?.perQuorum.get(w);
  const totalOf = (w: number) =>
    trace?.decomposition.find((d) => d.quorum === w && d.component === 'total')?.mean_us ?? null;
  return {
    costPerAckMeasuredUs: slopeOrNull(cmp.rows.map((r) => ({ w: r.quorum, y: r.measured_latency_mean_us }))),
    costPerAckMeasuredCi95Us: slopeCi95(
      cmp.rows.map((r) => ({ x: r.quorum, halfWidth: r.measured_latency_mean_ci95_us ?? null })),
    ),
    costPerAckModelUs: slopeOrNull(cmp.rows.map((r) => ({ w: r.quorum, y: r.model_latency_mean_us }))),
    costPerAckTraceModelUs: slopeOrNull(
      cmp.rows.map((r) => ({ w: r.quorum, y: perQ(r.quorum)?.model_trace_latency_mean_us ?? null })),
    ),
    stale: cmp.rows.map((r) => ({
      quorum: r.quorum,
      measured: r.measured_stale_fraction,
      model: r.model_stale_fraction,
      traceModel: perQ(r.quorum)?.model_trace_stale_fraction ?? null,
    })),
    decompositionError: cmp.rows.map((r) => {
      const total = totalOf(r.quorum);
      return {
        quorum: r.quorum,
        error:
          total === null || r.measured_latency_mean_us <= 0
            ? null
            : Math.abs(total - r.measured_latency_mean_us) / r.measured_latency_mean_us,
      };
    }),
    traceSkipped: trace ? trace.skipped : 'traces not analysed',
    traceDisagreements: [...(trace?.perQuorum.values() ?? [])].reduce((s, q) => s + q.trace_stale_disagreements, 0),
  };
}

const us = (x: number | null): string => (x === null ? '–' : `${Math.round(x)} µs`);
const pct = (x: number | null): string => (x === null ? '–' : `${(100 * x).toFixed(1)}%`);
const pp = (a: number | null, b: number | null): string =>
  a === null || b === null ? '–' : `${(100 * Math.abs(a - b)).toFixed(1)} pp`;

/**
 * The measured cost's 95 % interval, and where the model lies: outside it, inside it, or the interval
 * is too wide to tell any cost from zero. The interval counts each step's sampling error only (writes
 * taken as independent), not drift between the steps, so "outside" is the claim to read with care.
 */
function ackInterval(h: Headline): string {
  const [m, ci, model] = [h.costPerAckMeasuredUs, h.costPerAckMeasuredCi95Us, h.costPerAckModelUs];
  if (m === null || ci === null) return '';
  let where = '';
  if (model !== null && Math.abs(m - model) > ci) where = ': the model lies outside';
  else if (ci >= Math.abs(m)) where = ': too wide to tell a cost from zero';
  else if (model !== null) where = ': the model lies inside';
  return ` (± ${Math.round(ci)} µs, 95 %, within-step sampling error only${where})`;
}

/** The answer and the fidelity figures as plain lines (the report's first paragraphs, the CLI's first lines). */
export function headlineLines(h: Headline): string[] {
  const lines = [
    `Cost per extra ack: ${us(h.costPerAckMeasuredUs)} measured${ackInterval(h)}, ${us(h.costPerAckModelUs)} model` +
      (h.costPerAckTraceModelUs === null ? '' : `, ${us(h.costPerAckTraceModelUs)} model fed by the traces`) +
      ' (slope of mean latency over W).',
    `Stale follower reads per W (measured / model / model from traces): ${h.stale
      .map((s) => `W=${s.quorum} ${pct(s.measured)} / ${pct(s.model)} / ${pct(s.traceModel)}`)
      .join('; ')}.`,
  ];
  if (h.traceSkipped !== null) {
    lines.push(`Fidelity: no one-clock figures: ${h.traceSkipped}.`);
    return lines;
  }
  lines.push(
    `Fidelity: |trace model − measured stale| ${h.stale.map((s) => `W=${s.quorum} ${pp(s.traceModel, s.measured)}`).join(', ')} (target ≤ 1 pp); ` +
      `decomposition (sums to the traced writes' mean exactly) vs the mean of all writes ${h.decompositionError.map((d) => `W=${d.quorum} ${d.error === null ? '–' : `${(100 * d.error).toFixed(1)}%`}`).join(', ')} (target ≤ 2 %); ` +
      `trace vs version staleness disagreements: ${h.traceDisagreements} (must be 0).`,
  );
  return lines;
}
