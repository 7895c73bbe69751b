/**
 * The run's plots as vega-lite 5 specs, rendered to SVG headlessly (vega's 'none' renderer: no
 * browser, no canvas; text widths are estimated). Specs are plain data so tests can inspect them.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeDelayQuantileUs } from './model.ts';
import type { Comparison } from './compare.ts';
import { decompositionSpec } from './trace-plots.ts';
import type { AvailabilityRow, AvailabilityWindow, RunData } from './read-run.ts';

export interface PlotSpec {
  /** File name in the run folder. */
  file: string;
  title: string;
  spec: TopLevelSpec;
}

const WIDTH = 520;
const HEIGHT = 320;
const CONFIG = {
  font: 'Helvetica, Arial, sans-serif',
  axis: { labelFontSize: 12, titleFontSize: 13, grid: true, gridOpacity: 0.5 },
  legend: { labelFontSize: 12, titleFontSize: 12, symbolStrokeWidth: 2.5, labelLimit: 520 },
  title: { fontSize: 15, anchor: 'start' as const },
  line: { strokeWidth: 2.2 },
  point: { size: 45, filled: true },
};
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** What every chart shares: schema, size, look, title and inline data. */
export function frame(title: { text: string; subtitle: string }, values: unknown[]) {
  return { $schema: SCHEMA, title, width: WIDTH, height: HEIGHT, config: CONFIG, data: { values } };
}
/** Dash legends drawn as line segments, so measured and model lines can be told apart. */
const LINE_LEGEND = { symbolType: 'stroke', symbolSize: 400, symbolStrokeColor: '#555' } as const;

export const MEASURED = 'measured';
export const MODEL_UNIFORM = 'model: uniform delays';
export const MODEL_REALISED = 'model: realised delays';
export const MODEL_TRACE = 'model fed by the traces (WARS Monte Carlo)';

/** A 0..1 share on the y axis, shown in per cent. */
function fractionAxis(field: string, title: string) {
  return { field, type: 'quantitative' as const, title, axis: { format: '%' }, scale: { domain: [0, 1] } };
}

export function quorumAxis(quorums: number[]) {
  return {
    field: 'quorum',
    type: 'quantitative' as const,
    title: 'write quorum W (follower acks awaited)',
    axis: { values: quorums, format: 'd' },
    scale: { domain: [Math.min(...quorums) - 0.2, Math.max(...quorums) + 0.2] },
  };
}

/** Line style by data source (measured, model, ...), the same in every chart that compares them. */
function sourceDash(sources: string[]) {
  return { field: 'source', type: 'nominal', title: 'source', scale: dashScale(sources), legend: LINE_LEGEND } as const;
}

function dashScale(sources: string[]) {
  const dashes: Record<string, number[]> = {
    [MEASURED]: [1, 0],
    [MODEL_UNIFORM]: [7, 4],
    [MODEL_REALISED]: [2, 3],
    [MODEL_TRACE]: [5, 2],
  };
  return { domain: sources, range: sources.map((s) => dashes[s] ?? [4, 2]) };
}

/** (1) write latency vs quorum: measured mean/p50/p99 and the model's lines. */
export function latencyVsQuorumSpec(cmp: Comparison): PlotSpec {
  const values: { quorum: number; statistic: string; source: string; latency_us: number }[] = [];
  const hasRealised = cmp.rows.some((r) => r.model_realised_latency_mean_us !== null);
  for (const r of cmp.rows) {
    for (const [statistic, measured, model, realised] of [
      ['mean', r.measured_latency_mean_us, r.model_latency_mean_us, r.model_realised_latency_mean_us],
      ['p50', r.measured_latency_p50_us, r.model_latency_p50_us, r.model_realised_latency_p50_us],
      ['p99', r.measured_latency_p99_us, r.model_latency_p99_us, r.model_realised_latency_p99_us],
    ] as const) {
      values.push({ quorum: r.quorum, statistic, source: MEASURED, latency_us: measured });
      values.push({ quorum: r.quorum, statistic, source: MODEL_UNIFORM, latency_us: model });
      if (realised !== null && statistic === 'mean')
        values.push({ quorum: r.quorum, statistic, source: MODEL_REALISED, latency_us: realised });
    }
  }
  const sources = hasRealised ? [MEASURED, MODEL_UNIFORM, MODEL_REALISED] : [MEASURED, MODEL_UNIFORM];
  return {
    file: 'latency_vs_quorum.svg',
    title: 'Write latency vs write quorum',
    spec: {
      ...frame(
        {
          text: 'Write latency vs write quorum',
          subtitle: 'model = the injected delay d(W) only (no HTTP or network time)',
        },
        values,
      ),
      mark: { type: 'line', point: true },
      encoding: {
        x: quorumAxis(cmp.rows.map((r) => r.quorum)),
        y: { field: 'latency_us', type: 'quantitative', title: 'write latency (µs)', scale: { zero: true } },
        color: { field: 'statistic', type: 'nominal', title: 'statistic', sort: ['mean', 'p50', 'p99'] },
        strokeDash: sourceDash(sources),
        detail: { field: 'source' },
        tooltip: [
          { field: 'source' },
          { field: 'statistic' },
          { field: 'quorum' },
          { field: 'latency_us', title: 'latency (µs)' },
        ],
      },
    },
  };
}

/** (2) stale-read fraction from one follower vs quorum, measured vs predicted. */
export function stalenessVsQuorumSpec(cmp: Comparison): PlotSpec {
  const gaps = cmp.rows.map((r) => r.read_gap_us).filter((g): g is number => g !== null);
  const gLabel =
    gaps.length > 0
      ? `model at the measured read gap (g ≈ ${Math.round(gaps.reduce((s, g) => s + g, 0) / gaps.length)} µs)`
      : 'model at the measured read gap';
  const atAck = 'model at the ack (g = 0): (N − W)/N';
  const realisedLabel = `${MODEL_REALISED}, same g`;
  const values: { quorum: number; series: string; stale_fraction: number }[] = [];
  for (const r of cmp.rows) {
    if (r.measured_stale_fraction !== null)
      values.push({ quorum: r.quorum, series: MEASURED, stale_fraction: r.measured_stale_fraction });
    if (r.model_stale_fraction !== null)
      values.push({ quorum: r.quorum, series: gLabel, stale_fraction: r.model_stale_fraction });
    if (r.model_realised_stale_fraction !== null)
      values.push({ quorum: r.quorum, series: realisedLabel, stale_fraction: r.model_realised_stale_fraction });
    values.push({ quorum: r.quorum, series: atAck, stale_fraction: r.model_stale_fraction_at_ack });
    const fromTrace = cmp.trace?.perQuorum.get(r.quorum)?.model_trace_stale_fraction ?? null;
    if (fromTrace !== null) values.push({ quorum: r.quorum, series: MODEL_TRACE, stale_fraction: fromTrace });
  }
  const hasTrace = values.some((v) => v.series === MODEL_TRACE);
  const series = [
    MEASURED,
    gLabel,
    ...(cmp.rows.some((r) => r.model_realised_stale_fraction !== null) ? [realisedLabel] : []),
    ...(hasTrace ? [MODEL_TRACE] : []),
    atAck,
  ];
  const colours: Record<string, string> = {
    [MEASURED]: '#d62728',
    [gLabel]: '#1f77b4',
    [realisedLabel]: '#9467bd',
    [MODEL_TRACE]: '#2ca02c',
    [atAck]: '#9e9e9e',
  };
  const dashes: Record<string, number[]> = {
    [MEASURED]: [1, 0],
    [gLabel]: [7, 4],
    [realisedLabel]: [2, 3],
    [MODEL_TRACE]: [5, 2],
    [atAck]: [1, 4],
  };
  return {
    file: 'staleness_vs_quorum.svg',
    title: 'Stale reads vs write quorum',
    spec: {
      ...frame(
        {
          text: 'Stale reads from one follower right after the ack',
          subtitle: 'read quorum R = 1; a read is stale if it returns an older version than the acked write',
        },
        values,
      ),
      mark: { type: 'line', point: true },
      encoding: {
        x: quorumAxis(cmp.rows.map((r) => r.quorum)),
        y: fractionAxis('stale_fraction', 'stale reads (fraction of follower reads)'),
        color: {
          field: 'series',
          type: 'nominal',
          title: null,
          sort: series,
          scale: { domain: series, range: series.map((x) => colours[x]!) },
          legend: { orient: 'bottom', direction: 'vertical', symbolType: 'stroke', symbolSize: 400, labelLimit: 600 },
        },
        strokeDash: {
          field: 'series',
          type: 'nominal',
          title: null,
          scale: { domain: series, range: series.map((x) => dashes[x]!) },
        },
        tooltip: [{ field: 'series' }, { field: 'quorum' }, { field: 'stale_fraction', format: '.2%' }],
      },
    },
  };
}

/** (3) latency percentile spectrum per quorum on a log 1/(1 − p) axis, with the model's d(W) spectrum. */
export function latencySpectrumSpec(run: RunData, cmp: Comparison): PlotSpec {
  const values: { quorum: string; source: string; inverse_tail: number; percentile: number; latency_us: number }[] = [];
  const quorums = cmp.rows.map((r) => r.quorum);
  const percentiles = new Set<number>();
  for (const p of run.latencyPercentiles) {
    if (p.percentile >= 100 || !quorums.includes(p.quorum)) continue;
    percentiles.add(p.percentile);
    values.push({
      quorum: `W = ${p.quorum}`,
      source: MEASURED,
      inverse_tail: 1 / (1 - p.percentile / 100),
      percentile: p.percentile,
      latency_us: p.latency_us,
    });
  }
  for (const r of cmp.rows) {
    const model = { followers: r.followers, minDelayUs: r.min_delay_ms * 1000, maxDelayUs: r.max_delay_ms * 1000 };
    for (const p of [...percentiles].sort((a, b) => a - b)) {
      values.push({
        quorum: `W = ${r.quorum}`,
        source: MODEL_UNIFORM,
        inverse_tail: 1 / (1 - p / 100),
        percentile: p,
        latency_us: Math.round(writeDelayQuantileUs(model, r.quorum, p / 100) * 10) / 10,
      });
    }
  }
  const maxInverse = Math.max(10, ...values.map((v) => v.inverse_tail));
  // 1/(1 − p) = 2 is the median; left out when the axis is wide enough for its label to collide with 0 %.
  const ticks = [1, ...(maxInverse < 1000 ? [2] : []), 10, 100, 1000, 10_000, 100_000, 1_000_000].filter(
    (t) => t <= maxInverse * 1.001,
  );
  return {
    file: 'latency_spectrum.svg',
    title: 'Latency percentile spectrum',
    spec: {
      ...frame(
        {
          text: 'Write latency by percentile (HdrHistogram style)',
          subtitle: 'x = 1/(1 − p) on a log scale; dashed = model d(W), injected delay only',
        },
        values,
      ),
      mark: { type: 'line', point: { size: 18 } },
      encoding: {
        x: {
          field: 'inverse_tail',
          type: 'quantitative',
          title: 'percentile p (axis: 1/(1 − p), log scale)',
          scale: { type: 'log', domain: [1, Math.max(...ticks)] },
          axis: { values: ticks, labelExpr: "datum.value <= 1 ? '0%' : format(100 - 100 / datum.value, '.4~f') + '%'" },
        },
        y: { field: 'latency_us', type: 'quantitative', title: 'write latency (µs)', scale: { zero: true } },
        color: { field: 'quorum', type: 'nominal', title: 'write quorum', scale: { scheme: 'category10' } },
        strokeDash: {
          field: 'source',
          type: 'nominal',
          title: 'source',
          scale: dashScale([MEASURED, MODEL_UNIFORM]),
          legend: LINE_LEGEND,
        },
        detail: { field: 'source' },
        tooltip: [
          { field: 'quorum' },
          { field: 'source' },
          { field: 'percentile' },
          { field: 'latency_us', title: 'latency (µs)' },
        ],
      },
    },
  };
}

/** (4) fraction of writes visible on every follower vs time after the ack, measured and model. */
export function visibilitySpec(run: RunData, cmp: Comparison): PlotSpec | null {
  if (!run.visibility || run.visibility.length === 0) return null;
  const quorums = new Set(cmp.rows.map((r) => r.quorum));
  const values: { quorum: string; source: string; offset_us: number; fully_visible_fraction: number }[] = [];
  for (const v of run.visibility) {
    if (!quorums.has(v.quorum) || v.writes === 0) continue;
    values.push({
      quorum: `W = ${v.quorum}`,
      source: MEASURED,
      offset_us: v.realised_offset_mean_us ?? v.offset_us,
      fully_visible_fraction: v.fully_visible_fraction,
    });
  }
  for (const m of cmp.visibilityModel) {
    values.push({
      quorum: `W = ${m.quorum}`,
      source: MODEL_UNIFORM,
      offset_us: m.offset_us,
      fully_visible_fraction: m.model_fully_visible_fraction,
    });
  }
  for (const m of cmp.trace?.visibility ?? []) {
    if (quorums.has(m.quorum))
      values.push({
        quorum: `W = ${m.quorum}`,
        source: MODEL_TRACE,
        offset_us: m.offset_us,
        fully_visible_fraction: m.model_trace_fully_visible_fraction,
      });
  }
  const sources = [MEASURED, MODEL_UNIFORM, ...(values.some((v) => v.source === MODEL_TRACE) ? [MODEL_TRACE] : [])];
  return {
    file: 'visibility.svg',
    title: 'Visibility after the ack',
    spec: {
      ...frame(
        {
          text: 'Writes visible on all followers vs time after the ack',
          subtitle: 'dashed = model P(Binomial(N, (g + t)/(b − a)) ≥ N − W), g = measured read gap',
        },
        values,
      ),
      layer: [
        {
          transform: [{ filter: `datum.source == '${MEASURED}'` }],
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'offset_us', type: 'quantitative', title: 'time after the ack, t (µs)' },
            y: fractionAxis('fully_visible_fraction', 'writes visible on all followers (fraction)'),
            color: { field: 'quorum', type: 'nominal', title: 'write quorum', scale: { scheme: 'category10' } },
            strokeDash: sourceDash(sources),
          },
        },
        {
          transform: [{ filter: `datum.source != '${MEASURED}'` }],
          mark: { type: 'line' },
          encoding: {
            x: { field: 'offset_us', type: 'quantitative' },
            y: { field: 'fully_visible_fraction', type: 'quantitative' },
            color: { field: 'quorum', type: 'nominal' },
            strokeDash: { field: 'source', type: 'nominal' },
          },
        },
      ],
    },
  };
}

/** (5) read quorums: P(all R followers read are stale), measured vs model, per W. */
export function readQuorumSpec(cmp: Comparison): PlotSpec {
  const values: { quorum: string; source: string; read_quorum: number; stale_probability: number }[] = [];
  for (const r of cmp.readQuorums) {
    if (r.measured_stale_probability !== null)
      values.push({
        quorum: `W = ${r.quorum}`,
        source: MEASURED,
        read_quorum: r.read_quorum,
        stale_probability: r.measured_stale_probability,
      });
    if (r.model_stale_probability !== null)
      values.push({
        quorum: `W = ${r.quorum}`,
        source: MODEL_UNIFORM,
        read_quorum: r.read_quorum,
        stale_probability: r.model_stale_probability,
      });
  }
  const rs = [...new Set(cmp.readQuorums.map((r) => r.read_quorum))];
  return {
    file: 'read_quorums.svg',
    title: 'Stale reads vs read quorum',
    spec: {
      ...frame(
        {
          text: 'Stale reads when reading R followers and keeping the newest',
          subtitle: 'zero whenever W + R > N (strict quorum)',
        },
        values,
      ),
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'read_quorum',
          type: 'quantitative',
          title: 'read quorum R (followers read)',
          axis: { values: rs, format: 'd' },
        },
        y: fractionAxis('stale_probability', 'stale reads (fraction)'),
        color: { field: 'quorum', type: 'nominal', title: 'write quorum', scale: { scheme: 'category10' } },
        strokeDash: {
          field: 'source',
          type: 'nominal',
          title: 'source',
          scale: dashScale([MEASURED, MODEL_UNIFORM]),
          legend: LINE_LEGEND,
        },
        detail: { field: 'source' },
      },
    },
  };
}

/** Series names of the availability plot, one per availability.csv window. */
export const AVAILABILITY_SERIES: Record<AvailabilityWindow, string> = {
  fault: 'fault: writes sent while a follower was faulted',
  normal: 'normal: writes sent with every follower up',
  all: 'all measured writes',
};

/** True when availability.csv has `fault` rows (the run had --fault). */
export function hasFaultRows(rows: readonly AvailabilityRow[] | null): rows is readonly AvailabilityRow[] {
  return rows?.some((r) => r.window === 'fault') === true;
}

/** (6) availability (ok / attempted, %) vs W per window; null without fault rows. */
export function availabilityVsQuorumSpec(run: RunData): PlotSpec | null {
  if (!hasFaultRows(run.availability)) return null;
  const windows: AvailabilityWindow[] = ['fault', 'normal', 'all'];
  const series = windows.map((w) => AVAILABILITY_SERIES[w]);
  const values = run.availability
    .filter((r) => r.availability !== null)
    .map((r) => ({
      quorum: r.quorum,
      series: AVAILABILITY_SERIES[r.window],
      availability_pct: Math.round(r.availability! * 1e6) / 1e4,
      ok: r.ok,
      attempted: r.attempted,
    }));
  const quorums = [...new Set(run.availability.map((r) => r.quorum))].sort((a, b) => a - b);
  const colours: Record<string, string> = { [series[0]!]: '#d62728', [series[1]!]: '#2ca02c', [series[2]!]: '#555555' };
  const dashes: Record<string, number[]> = { [series[0]!]: [1, 0], [series[1]!]: [7, 4], [series[2]!]: [2, 3] };
  return {
    file: 'availability_vs_quorum.svg',
    title: 'Write availability vs write quorum under the fault',
    spec: {
      ...frame(
        {
          text: 'Write availability vs write quorum under the fault',
          subtitle: 'availability = ok / attempted measured writes; W > live followers cannot collect W acks (503)',
        },
        values,
      ),
      mark: { type: 'line', point: true },
      encoding: {
        x: quorumAxis(quorums),
        y: {
          field: 'availability_pct',
          type: 'quantitative',
          title: 'availability (% of attempted writes ok)',
          scale: { domain: [0, 100] },
        },
        color: {
          field: 'series',
          type: 'nominal',
          title: 'window',
          sort: series,
          scale: { domain: series, range: series.map((x) => colours[x]!) },
          legend: { orient: 'bottom', direction: 'vertical', symbolType: 'stroke', symbolSize: 400, labelLimit: 600 },
        },
        strokeDash: {
          field: 'series',
          type: 'nominal',
          title: 'window',
          scale: { domain: series, range: series.map((x) => dashes[x]!) },
        },
        tooltip: [
          { field: 'series', title: 'window' },
          { field: 'quorum' },
          { field: 'availability_pct', title: 'availability (%)' },
          { field: 'ok' },
          { field: 'attempted' },
        ],
      },
    },
  };
}

export function allPlotSpecs(run: RunData, cmp: Comparison): PlotSpec[] {
  const specs = [latencyVsQuorumSpec(cmp), stalenessVsQuorumSpec(cmp), latencySpectrumSpec(run, cmp)];
  const vis = visibilitySpec(run, cmp);
  if (vis) specs.push(vis);
  specs.push(readQuorumSpec(cmp));
  const availability = availabilityVsQuorumSpec(run);
  if (availability) specs.push(availability);
  const decomposition = decompositionSpec(cmp);
  if (decomposition) specs.push(decomposition);
  return specs;
}

/** Render a vega-lite spec to an SVG string without a browser. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
