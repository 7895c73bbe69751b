/**
 * Where one quorum step runs: a fresh local cluster from nodes/cluster.ts (default), or an external
 * cluster whose quorum is switched with the leader's `PUT /config {writeQuorum}`.
 */
import { isAbsent, missingFigures, probeCapabilities, reportedQuorum, type Capabilities } from './capabilities.ts';
import { fillCommand, runCommand, waitHealthy } from './cluster-command.ts';
import type { Control } from './control.ts';
import type { FaultOps } from './fault-schedule.ts';
import { OptionError, type ExperimentOptions } from './options.ts';
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
  /** W as the leader reports it after the step's setup; null when it reports none. */
  reportedQuorum: number | null;
  /** Which of our admin endpoints the cluster has. */
  capabilities: { config: boolean; stats: boolean };
  /** Figures this run cannot give for lack of those endpoints. */
  missing: string[];
  /** The --cluster-cmd run for this step, placeholders filled in. */
  clusterCmd: string | null;
}

/** The external cluster does not run the W (or the settings) this step asked for. */
export class ExternalClusterError extends Error {
  readonly code = 'QL_ERR_EXTERNAL_CLUSTER';
  constructor(message: string) {
    super(message);
    this.name = 'ExternalClusterError';
  }
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
  /** What the cluster offers beyond the seed's endpoints (local clusters: everything). */
  capabilities: Capabilities;
  /** Stop the local cluster, or run --cluster-stop-cmd; a no-op for an external one without it. Safe to call twice. */
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
    server: options.server,
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
  if (options.leader && options.followers) return acquireExternal(options, quorum, control);
  const start = startCluster ?? (await loadStartCluster());
  const config = localClusterOptions(options, quorum);
  const cluster = await start(config);
  let stopping: Promise<void> | null = null;
  const followerNames =
    cluster.nodes?.filter((n) => n.role === 'follower').map((n) => n.name) ??
    cluster.followerUrls.map((_, i) => `follower${i + 1}`);
  return {
    quorum,
    mode: 'local',
    leaderUrl: cluster.leaderUrl,
    followerUrls: cluster.followerUrls,
    pids: cluster.pids,
    // The token is a secret: meta.json records only that one was used.
    config: {
      ...config,
      ...(config.replicationToken === undefined ? {} : { replicationToken: '<redacted>' }),
      // What the leader actually got, beside what was asked for.
      appliedLeaderPriority: cluster.leaderPriority ?? 'unknown',
    },
    minDelayMs: options.minDelayMs,
    maxDelayMs: options.maxDelayMs,
    control: control.withToken(cluster.replicationToken ?? options.replicationToken),
    followerNames,
    faultOps: faultOpsOf(cluster),
    capabilities: { config: true, stats: true, leaderConfig: null },
    release: () => (stopping ??= cluster.stop()),
  };
}

const SETTING_FLAGS = { minDelayMs: 'min-delay', maxDelayMs: 'max-delay', quorumTimeoutMs: 'quorum-timeout' } as const;

/**
 * An external cluster for one step: run --cluster-cmd (if any) and wait for /health, switch W with
 * PUT /config where the leader has it, and check that W and any delay option the user gave are
 * what the cluster reports. Without PUT /config the cluster keeps the W it was started with.
 */
async function acquireExternal(
  options: ExperimentOptions,
  quorum: number,
  rootControl: Control,
): Promise<ClusterTarget> {
  const leaderUrl = options.leader!;
  const followerUrls = options.followers!;
  const control = rootControl.withToken(options.replicationToken);
  const ports = { leaderUrl, followerUrls };
  const command = options.clusterCmd === null ? null : fillCommand(options.clusterCmd, quorum, ports);
  const stopCommand = options.clusterStopCmd === null ? null : fillCommand(options.clusterStopCmd, quorum, ports);
  let stopping: Promise<void> | null = null;
  const release = (): Promise<void> =>
    (stopping ??=
      stopCommand === null
        ? Promise.resolve()
        : runCommand(stopCommand, options.clusterReadyTimeoutMs, '--cluster-stop-cmd'));
  try {
    if (command !== null) {
      await runCommand(command, options.clusterReadyTimeoutMs, '--cluster-cmd');
      await waitHealthy(control, [leaderUrl, ...followerUrls], options.clusterReadyTimeoutMs);
    }
    let caps = await probeCapabilities(control, leaderUrl);
    if (caps.config) {
      try {
        await control.sendJson('PUT', leaderUrl, '/config', { writeQuorum: quorum });
      } catch (err) {
        if (!isAbsent(err)) throw err;
      }
      caps = await probeCapabilities(control, leaderUrl);
    }
    const health = await control.getJson<Record<string, unknown>>(leaderUrl, '/health');
    await Promise.all(followerUrls.map((u) => control.getJson(u, '/health')));
    const reported = reportedQuorum(caps.leaderConfig, health);
    if (reported !== null && reported !== quorum) {
      throw new ExternalClusterError(
        `leader ${leaderUrl} reports W=${reported} for the W=${quorum} step` +
          (command === null
            ? ' and cannot switch it (no PUT /config): give --cluster-cmd, or --quorums with its one W'
            : ` after --cluster-cmd ${JSON.stringify(command)}`),
      );
    }
    const ms = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
    checkExternalSettings(options, caps.leaderConfig, leaderUrl);
    return {
      quorum,
      mode: 'external',
      leaderUrl,
      followerUrls,
      pids: [],
      config: {
        mode: 'external',
        writeQuorum: quorum,
        leaderConfig: caps.leaderConfig,
        reportedQuorum: reported,
        capabilities: { config: caps.config, stats: caps.stats },
        missing: [
          ...missingFigures(caps),
          ...(reported === null ? ['W read back from the leader (it reports none): W is taken on trust'] : []),
        ],
        clusterCmd: command,
      },
      minDelayMs: ms(caps.leaderConfig?.minDelayMs),
      maxDelayMs: ms(caps.leaderConfig?.maxDelayMs),
      control,
      followerNames: followerUrls.map((_, i) => `follower${i + 1}`),
      faultOps: null,
      capabilities: caps,
      release,
    };
  } catch (err) {
    await release().catch(() => {});
    throw err;
  }
}

/**
 * --min-delay, --max-delay, --quorum-timeout with --leader: the cluster's own settings rule (no
 * admin endpoint changes them), so a value the user gave must be the one the leader reports.
 */
function checkExternalSettings(
  options: ExperimentOptions,
  leaderConfig: Record<string, unknown> | null,
  leaderUrl: string,
): void {
  for (const key of options.externalSettings) {
    const flag = SETTING_FLAGS[key];
    const inEffect = leaderConfig?.[key];
    if (inEffect === options[key]) continue;
    const said = typeof inEffect === 'number' ? `runs with ${inEffect} ms` : 'does not report this setting';
    throw new OptionError(
      flag,
      `${options[key]} ms cannot be applied: ${leaderUrl} ${said} and has no endpoint to change it; start the cluster with that setting (or drop --${flag})`,
    );
  }
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
