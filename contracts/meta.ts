/**
 * meta.json: how a run was produced. Written by the harness (harness/meta.ts), read by the analysis
 * (analysis/read-run.ts) through checkMeta, so both agree on one shape. Bump META_SCHEMA_VERSION when a
 * field changes meaning or goes away; adding a field does not need a bump (readers ignore what they do
 * not know). Runs written before schemaVersion existed read as version 1.
 */
import type { LeaderStats } from './stats.ts';

export const META_SCHEMA_VERSION = 2;

export interface ToolInfo {
  name: string;
  version: string;
  /** The commit the harness (or the analysis) ran from; null outside a git checkout. */
  gitCommit: string | null;
}

export interface RunMeta {
  schemaVersion: number;
  tool: ToolInfo;
  /** The resolved options of the experiment (token redacted). */
  options: Record<string, unknown>;
  /** What the cluster ran with, read back from it where it can say (mode, delays, perQuorum, ...). */
  cluster: Record<string, unknown>;
  seed: number | null;
  /** process.version of the harness. */
  node: string;
  platform: { os: string; release: string; arch: string; totalMemBytes: number };
  cpu: { model: string | null; count: number };
  startedAt: string;
  endedAt: string;
  /** The leader's /stats after each quorum step, by W (partial or absent for a foreign cluster). */
  leaderStats: Record<string, LeaderStats>;
  /** Per-W details (faults, lost writes, availability, ...), by W. */
  quorums: Record<string, unknown>;
  /** Per-write tracing (issue 9): whether every node shared the harness's monotonic clock, and what was traced. */
  trace?: { sharedClock?: boolean | null; [field: string]: unknown };
  /**
   * `--rate auto` or `N%`: the closed-loop calibration step that fixed the open-loop rate of every W
   * (harness/calibrate.ts). Absent with a fixed --rate or a closed loop.
   */
  calibration?: Calibration | null;
  /** Only in hand-made fixture runs (test/fixtures): what the fixture is, shown in its report. */
  synthetic?: string | boolean;
}

/** The calibration step of `--rate auto` or `N%` (meta.json `calibration`). */
export interface Calibration {
  /** W of the calibration step. */
  quorum: number;
  clients: number;
  writes: number;
  /** Closed-loop writes/s at that W: the capacity. */
  capacityWritesPerSec: number;
  /** Share of the capacity offered to every W. */
  share: number;
  /** The open-loop rate every W then runs at, writes/s. */
  rateWritesPerSec: number;
  /** Measured writes per W after calibration (without --writes: at most CALIBRATED_STEP_S of load). */
  writesPerQuorum?: number;
  wallS: number;
}

/** `analysis.json`, written beside the report: which analysis drew it. */
export interface AnalysisMeta {
  tool: ToolInfo;
  analyzedAt: string;
  /** schemaVersion of the meta.json it read. */
  metaSchemaVersion: number;
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Validate a parsed meta.json; returns it typed, or the first problem as a sentence naming the field.
 * Version 1 (no schemaVersion) is accepted with the fields it had.
 */
export function checkMeta(value: unknown): { meta: RunMeta } | { problem: string } {
  if (!isObject(value)) return { problem: 'expected a JSON object' };
  const version = value.schemaVersion ?? 1;
  if (!Number.isInteger(version) || (version as number) < 1)
    return { problem: `schemaVersion must be a positive integer, got ${JSON.stringify(version)}` };
  if ((version as number) > META_SCHEMA_VERSION) {
    return {
      problem: `schemaVersion ${version} is newer than this analysis understands (${META_SCHEMA_VERSION}); update quorum-lab`,
    };
  }
  if (!isObject(value.tool) || typeof value.tool.name !== 'string') return { problem: 'tool.name is missing' };
  for (const field of ['options', 'cluster', 'leaderStats', 'quorums'] as const) {
    if (value[field] !== undefined && !isObject(value[field])) return { problem: `${field} must be an object` };
  }
  const meta = {
    ...value,
    schemaVersion: version,
    options: value.options ?? {},
    cluster: value.cluster ?? {},
    leaderStats: value.leaderStats ?? {},
    quorums: value.quorums ?? {},
    seed: typeof value.seed === 'number' ? value.seed : null,
  } as unknown as RunMeta;
  return { meta };
}
