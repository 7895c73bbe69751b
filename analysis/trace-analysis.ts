/**
 * The one-clock figures of a run folder: reads every trace_q<W>.csv, and per quorum gives the
 * decomposition, the staleness counted from the timelines (with its read-by-read agreement with
 * the version-based count), and the WARS Monte Carlo fed by the measured legs (stale fraction per W
 * and per R, t-visibility). Empty, with the reason, when the run has no traces or its clocks
 * were not shared (meta.json `trace.sharedClock: false`).
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { decompose, type DecompositionRow } from './decomposition.ts';
import { sortedQuantile } from './montecarlo.ts';
import { parseTraceCsv } from './trace-csv.ts';
import type { JoinedWrite } from './trace-join.ts';
import { traceModel } from './trace-model.ts';
import { traceStaleness, type TraceStaleness } from './trace-staleness.ts';

/** Columns appended to model.csv per quorum. */
export interface TraceModelColumns {
  trace_writes: number;
  /** Follower reads decided by the timelines: stale / decided. */
  trace_stale_fraction: number | null;
  /** Reads where timelines and versions disagree (must be 0). */
  trace_stale_disagreements: number;
  /** WARS Monte Carlo fed with the measured legs. */
  model_trace_stale_fraction: number | null;
  model_trace_latency_mean_us: number | null;
}

export interface TraceComparison {
  /** Why there are no one-clock figures (null when there are). */
  skipped: string | null;
  decomposition: DecompositionRow[];
  perQuorum: Map<number, TraceModelColumns & { staleness: TraceStaleness }>;
  /** model_trace_stale_probability by `${W}:${R}`. */
  readQuorumStale: Map<string, number>;
  visibility: { quorum: number; offset_us: number; model_trace_fully_visible_fraction: number }[];
}

const TRACE_FILE = /^trace_q(\d+)\.csv$/;

/** Every trace_q<W>.csv of a run folder, by W (empty map when there are none). */
export async function readTraces(dir: string): Promise<Map<number, JoinedWrite[]>> {
  const out = new Map<number, JoinedWrite[]>();
  for (const name of (await readdir(dir)).sort()) {
    const m = TRACE_FILE.exec(name);
    if (m) out.set(Number(m[1]), parseTraceCsv(await readFile(join(dir, name), 'utf8'), name));
  }
  return out;
}

const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;

function empty(skipped: string): TraceComparison {
  return { skipped, decomposition: [], perQuorum: new Map(), readQuorumStale: new Map(), visibility: [] };
}

export function compareTraces(
  traces: Map<number, JoinedWrite[]>,
  options: { followers: number; sharedClock: boolean | null; seed?: number; trials?: number },
): TraceComparison {
  if (traces.size === 0) return empty('no trace_q<W>.csv in the run folder (run with --trace > 0)');
  if (options.sharedClock === false)
    return empty('the nodes and the harness do not share a clock (meta.json trace.sharedClock = false)');
  const out = empty('');
  out.skipped = null;
  for (const [w, writes] of [...traces].sort((a, b) => a[0] - b[0])) {
    out.decomposition.push(...decompose(w, writes));
    const staleness = traceStaleness(writes);
    const writeLegs = writes.flatMap((x) =>
      x.legs.map((l) => (l.appliedUs === null || x.versionUs === null ? null : l.appliedUs - x.versionUs)),
    );
    const sorted = Float64Array.from(writeLegs.filter((v): v is number => v !== null)).sort();
    const horizon = sorted.length > 0 ? sortedQuantile(sorted, 0.999) : 0;
    const offsets = Array.from({ length: 41 }, (_, i) => Math.round((horizon * i) / 40));
    const mc = traceModel(writes, {
      writeQuorum: w,
      visibilityOffsetsUs: offsets,
      seed: (options.seed ?? 9) + w,
      trials: options.trials,
    });
    out.perQuorum.set(w, {
      staleness,
      trace_writes: writes.length,
      trace_stale_fraction: staleness.staleFraction === null ? null : r6(staleness.staleFraction),
      trace_stale_disagreements: staleness.disagreements,
      model_trace_stale_fraction: mc ? r6(mc.staleFraction) : null,
      model_trace_latency_mean_us: mc ? Math.round(mc.latencyMeanUs * 10) / 10 : null,
    });
    mc?.readQuorumStale.forEach((p, i) => out.readQuorumStale.set(`${w}:${i + 1}`, r6(p)));
    for (const v of mc?.fullyVisible ?? [])
      out.visibility.push({ quorum: w, offset_us: v.offsetUs, model_trace_fully_visible_fraction: r6(v.probability) });
  }
  return out;
}
