/**
 * Where one quorum step runs: a fresh local cluster from nodes/cluster.ts (default), or an external
 * cluster whose quorum is switched with the leader's `PUT /config {writeQuorum}`.
 */
import type { Control } from './control.ts';
import type { FaultOps } from './fault-schedule.ts';
import type { ExperimentOptions } from './options.ts';
import { delaySeedFor } from './workload.ts';
import type { ClusterOptions as LauncherOptions } from '../nodes/cluster.ts';

/**
 * The launcher's options (docs/contracts.md, "Launcher"). A type-only import: the launcher module
 * itself is loaded lazily (loadStartCluster), so options and fakes work without the nodes.
 */
export type ClusterOptions = LauncherOptions;

/** The launcher's RunningCluster; the fault helpers are optional so a fake launcher can leave them out. */
export interface RunningCluster extends Partial<FaultOps> {
  leaderUrl: string;
  followerUrls: string[];
  pids: number[];
  stop(): Promise<void>;
  /** Set when the nodes were started with a REPLICATION_TOKEN: admin calls must send it. */
  replicationToken?: string;
  /** The priority the leader got ('realtime' = SCHED_FIFO); absent from launchers that do not say. */
  leaderPriority?: 'realtime' | 'normal';
  nodes?: { name: string; role: string }[];
}

export interface ExternalConfig {
  mode: 'external';
  writeQuorum: number;
  /** The leader's GET /config, if it answers one. */
  leaderConfig: Record<string, unknown> | null;
}

export type StartCluster = (options: ClusterOptions) => Promise<RunningCluster>;

export interface ClusterTarget {
  quorum: number;
  mode: 'local' | 'external';
  leaderUrl: string;
  followerUrls: string[];
  pids: number[];
  /** What the cluster was started with, or (external) what its leader's GET /config reports; in meta.json. */
  config: (ClusterOptions & { appliedLeaderPriority?: string }) | ExternalConfig;
  /** Injected delay bounds in effect, ms; null when an external leader does not report them. */
  minDelayMs: number | null;
  maxDelayMs: number | null;
  /** Control calls for this cluster (with its replication token, if it has one). */
  control: Control;
  /** Follower names (follower1..), in follower order. */
  followerNames: string[];
  /** kill / restart / pause / resume / waitCaughtUp of the local launcher; null for an external cluster or a launcher without them. */
  faultOps: FaultOps | null;
  /** Stop the local cluster; a no-op for an external one. Safe to call twice. */
  release(): Promise<void>;
}

/** Loaded lazily so the options, CSV and client code work (and are testable) without the nodes. */
export async function loadStartCluster(): Promise<StartCluster> {
  const href = new URL('../nodes/cluster.ts', import.meta.url).href;
  const mod = (await import(href)) as { startCluster?: StartCluster };
  if (typeof mod.startCluster !== 'function') throw new Error('nodes/cluster.ts does not export startCluster');
  return mod.startCluster;
}

export function localClusterOptions(options: ExperimentOptions, quorum: number): ClusterOptions {
  const config: ClusterOptions = {
    writeQuorum: quorum,
    minDelayMs: options.minDelayMs,
    maxDelayMs: options.maxDelayMs,
    quorumTimeoutMs: options.quorumTimeoutMs,
    delaySeed: delaySeedFor(options.seed, quorum),
    leaderPriority: options.leaderPriority,
  };
  if (options.basePort > 0) {
    config.leaderPort = options.basePort;
    config.followerPorts = Array.from({ length: 5 }, (_, i) => options.basePort + 1 + i);
  }
  if (options.replicationToken !== null) config.replicationToken = options.replicationToken;
  return config;
}

export async function acquireCluster(
  options: ExperimentOptions,
  quorum: number,
  control: Control,
  startCluster?: StartCluster,
): Promise<ClusterTarget> {
  if (options.leader && options.followers) {
    const leaderUrl = options.leader;
    const followerUrls = options.followers;
    control = control.withToken(options.replicationToken);
    await control.sendJson('PUT', leaderUrl, '/config', { writeQuorum: quorum });
    const health = await control.getJson<{ quorum?: number }>(leaderUrl, '/health');
    if (health.quorum !== undefined && health.quorum !== quorum) {
      throw new Error(`leader ${leaderUrl} reports quorum ${health.quorum} after PUT /config {writeQuorum: ${quorum}}`);
    }
    await Promise.all(followerUrls.map((u) => control.getJson(u, '/health')));
    let leaderConfig: Record<string, unknown> | null = null;
    try {
      leaderConfig = await control.getJson<Record<string, unknown>>(leaderUrl, '/config');
    } catch {
      leaderConfig = null;
    }
    const ms = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
    return {
      quorum, mode: 'external', leaderUrl, followerUrls, pids: [],
      config: { mode: 'external', writeQuorum: quorum, leaderConfig },
      minDelayMs: ms(leaderConfig?.minDelayMs),
      maxDelayMs: ms(leaderConfig?.maxDelayMs),
      control,
      followerNames: followerUrls.map((_, i) => `follower${i + 1}`),
      faultOps: null,
      release: async () => {},
    };
  }
  const start = startCluster ?? (await loadStartCluster());
  const config = localClusterOptions(options, quorum);
  const cluster = await start(config);
  let stopping: Promise<void> | null = null;
  const followerNames =
    cluster.nodes?.filter((n) => n.role === 'follower').map((n) => n.name) ?? cluster.followerUrls.map((_, i) => `follower${i + 1}`);
  return {
    quorum, mode: 'local', leaderUrl: cluster.leaderUrl, followerUrls: cluster.followerUrls, pids: cluster.pids,
    // The token is a secret: meta.json records only that one was used.
    config: {
      ...config,
      ...(config.replicationToken === undefined ? {} : { replicationToken: '<redacted>' }),
      // What the leader actually got, beside what was asked for.
      appliedLeaderPriority: cluster.leaderPriority ?? 'unknown',
    },
    minDelayMs: options.minDelayMs, maxDelayMs: options.maxDelayMs,
    control: control.withToken(cluster.replicationToken ?? options.replicationToken),
    followerNames,
    faultOps: faultOpsOf(cluster),
    release: () => (stopping ??= cluster.stop()),
  };
}

function faultOpsOf(c: RunningCluster): FaultOps | null {
  const { kill, restart, pause, resume, nodeState, waitCaughtUp } = c;
  if (!kill || !restart || !pause || !resume || !nodeState || !waitCaughtUp) return null;
  return {
    kill: (name) => kill.call(c, name),
    restart: (name) => restart.call(c, name),
    pause: (name) => pause.call(c, name),
    resume: (name) => resume.call(c, name),
    nodeState: (name) => nodeState.call(c, name),
    waitCaughtUp: (name, o) => waitCaughtUp.call(c, name, o),
  };
}
