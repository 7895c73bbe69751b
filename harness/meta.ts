/** meta.json (shape in contracts/meta.ts): how a run was produced (tool, options, clusters, machine, times). */
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { META_SCHEMA_VERSION, type RunMeta } from '../contracts/meta.ts';
import type { LeaderStats } from '../contracts/stats.ts';
import { toolInfo } from '../lib/tool-info.ts';
import type { ExperimentOptions } from './options.ts';

export { toolInfo };

export interface MetaInput {
  options: ExperimentOptions;
  cluster: Record<string, unknown>;
  startedAt: Date;
  endedAt: Date;
  leaderStats: Record<string, LeaderStats>;
  quorums: Record<string, unknown>;
  /** Per-write tracing (absent when nothing was traced). */
  trace?: RunMeta['trace'];
  calibration?: RunMeta['calibration'];
}

export function buildMeta(input: MetaInput): RunMeta {
  const cpuList = cpus();
  return {
    schemaVersion: META_SCHEMA_VERSION,
    tool: toolInfo(),
    options: input.options as unknown as Record<string, unknown>,
    cluster: input.cluster,
    seed: input.options.seed,
    node: process.version,
    platform: { os: platform(), release: release(), arch: arch(), totalMemBytes: totalmem() },
    cpu: { model: cpuList[0]?.model ?? null, count: cpuList.length },
    startedAt: input.startedAt.toISOString(),
    endedAt: input.endedAt.toISOString(),
    leaderStats: input.leaderStats,
    quorums: input.quorums,
    ...(input.trace ? { trace: input.trace } : {}),
    ...(input.calibration ? { calibration: input.calibration } : {}),
  };
}
