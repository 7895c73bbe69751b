/** Plots of the traces and of the load sweep: where a write's time goes per W, and latency vs offered load. */
import type { Comparison } from './compare.ts';
import { COMPONENTS } from './decomposition.ts';
import { frame, type PlotSpec } from './plots.ts';

/** Stacked bars per W: the mean of each component of the decomposed latency (decomposition.csv). */
export function decompositionSpec(cmp: Comparison): PlotSpec | null {
  const rows = (cmp.trace?.decomposition ?? []).filter((r) => r.component !== 'total');
  if (rows.length === 0) return null;
  const order = COMPONENTS.filter((c) => rows.some((r) => r.component === c));
  const values = rows.map((r) => ({
    quorum: `W = ${r.quorum}`,
    component: r.component,
    mean_us: Math.max(0, r.mean_us),
    order: order.indexOf(r.component as (typeof order)[number]),
  }));
  return {
    file: 'decomposition.svg',
    title: 'Where a write’s time goes, per W (traced writes)',
    spec: {
      ...frame(
        {
          text: 'Where a write’s time goes, per W',
          subtitle: 'mean of each component along the path of the ack that completed the quorum (decomposition.csv)',
        },
        values,
      ),
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'quorum', type: 'nominal', title: 'write quorum', axis: { labelAngle: 0 } },
        y: { field: 'mean_us', type: 'quantitative', title: 'mean latency (µs)', stack: 'zero' },
        color: { field: 'component', type: 'nominal', title: 'component', sort: order, scale: { scheme: 'tableau20' } },
        order: { field: 'order', type: 'quantitative' },
        tooltip: [{ field: 'quorum' }, { field: 'component' }, { field: 'mean_us', title: 'mean (µs)', format: '.1f' }],
      },
    },
  };
}

/** One point of latency_vs_load.svg (load_sweep.csv). */
export interface LoadPoint {
  quorum: number;
  offered_writes_per_sec: number;
  achieved_writes_per_sec: number;
  latency_mean_us: number;
  latency_p50_us: number;
  latency_p99_us: number;
}

/** Latency vs achieved throughput per W: where the quorum's cost is visible and where queueing takes over. */
export function latencyVsLoadSpec(points: readonly LoadPoint[]): PlotSpec {
  const values = points.flatMap((p) =>
    (['latency_p50_us', 'latency_p99_us'] as const).map((stat) => ({
      quorum: `W = ${p.quorum}`,
      statistic: stat === 'latency_p50_us' ? 'p50' : 'p99',
      throughput: p.achieved_writes_per_sec,
      offered: p.offered_writes_per_sec,
      latency_us: p[stat],
    })),
  );
  return {
    file: 'latency_vs_load.svg',
    title: 'Write latency vs throughput per W',
    spec: {
      ...frame(
        {
          text: 'Write latency vs throughput per W',
          subtitle: 'open loop at each offered rate of --rates; solid = p50, dashed = p99',
        },
        values,
      ),
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'throughput', type: 'quantitative', title: 'achieved writes/s' },
        y: { field: 'latency_us', type: 'quantitative', title: 'write latency (µs)', scale: { type: 'log' } },
        color: { field: 'quorum', type: 'nominal', title: 'quorum' },
        strokeDash: {
          field: 'statistic',
          type: 'nominal',
          title: 'statistic',
          scale: {
            domain: ['p50', 'p99'],
            range: [
              [1, 0],
              [6, 3],
            ],
          },
        },
        detail: { field: 'statistic' },
        tooltip: [
          { field: 'quorum' },
          { field: 'statistic' },
          { field: 'offered', title: 'offered/s' },
          { field: 'throughput', title: 'achieved/s' },
          { field: 'latency_us', title: 'latency (µs)' },
        ],
      },
    },
  };
}
