/** meta.json: how a run was produced (tool, options, clusters, machine, times). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, platform, release, arch, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ExperimentOptions } from './options.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface ToolInfo {
  name: string;
  version: string;
  gitCommit: string | null;
}

export function toolInfo(): ToolInfo {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  let gitCommit: string | null = null;
  try {
    gitCommit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 })
      .toString()
      .trim() || null;
  } catch {
    gitCommit = null;
  }
  return { name: pkg.name, version: pkg.version, gitCommit };
}

export interface MetaInput {
  options: ExperimentOptions;
  cluster: Record<string, unknown>;
  startedAt: Date;
  endedAt: Date;
  leaderStats: Record<string, unknown>;
  quorums: Record<string, unknown>;
}

export function buildMeta(input: MetaInput): Record<string, unknown> {
  const cpuList = cpus();
  return {
    tool: toolInfo(),
    options: input.options,
    cluster: input.cluster,
    seed: input.options.seed,
    node: process.version,
    platform: { os: platform(), release: release(), arch: arch(), totalMemBytes: totalmem() },
    cpu: { model: cpuList[0]?.model ?? null, count: cpuList.length },
    startedAt: input.startedAt.toISOString(),
    endedAt: input.endedAt.toISOString(),
    leaderStats: input.leaderStats,
    quorums: input.quorums,
  };
}
