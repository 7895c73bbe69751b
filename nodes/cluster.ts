/**
 * Launcher: starts one leader and N followers as child processes (nodes/main.ts), waits until
 * every node is healthy, and stops them all again. Used by `npm run cluster` and by the harness.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'undici';
import { ensureNodeBundle } from '../lib/node-bundle.mjs';
import {
  DEFAULT_LEADER_PRIORITY,
  LEADER_PRIORITIES,
  resolvePriority,
  type AppliedPriority,
  type LeaderPriority,
} from './priority.ts';
import { TokenError, validateToken } from './auth.ts';
import { waitFollowerCaughtUp } from './cluster-admin.ts';
import {
  ConfigError,
  DEFAULT_HOST,
  DEFAULT_MAX_DELAY_MS,
  DEFAULT_MIN_DELAY_MS,
  DEFAULT_QUORUM_TIMEOUT_MS,
  parsePort,
  parseSeed,
  parseServerKind,
  DEFAULT_SERVER,
  validateDelays,
  validateWriteQuorum,
  type SchedulerStrategy,
  type ServerKind,
} from './config.ts';
import { QuorumLabError } from '../contracts/errors.ts';
import { baseUrl } from './http-util.ts';

/** Port every node listens on inside its container (docker-compose.yml). */
export const CONTAINER_PORT = 5000;
/** Host port of the leader for `npm run cluster` and compose. */
export const DEFAULT_LEADER_PORT = 8000;
export const DEFAULT_FOLLOWER_COUNT = 5;
/** Host ports of the followers for `npm run cluster` and compose: 8001..8005. */
export const DEFAULT_FOLLOWER_PORTS: readonly number[] = defaultFollowerPorts(
  DEFAULT_FOLLOWER_COUNT,
  DEFAULT_LEADER_PORT,
);
/** Environment variables a node reads (docs/contracts.md); the launcher never lets the parent's values leak in. */
export const NODE_ENV_NAMES = [
  'ROLE',
  'PORT',
  'HOST',
  'WRITE_QUORUM',
  'MIN_DELAY',
  'MAX_DELAY',
  'FOLLOWERS',
  'QUORUM_TIMEOUT',
  'REPLICATION_TIMEOUT',
  'DELAY_SEED',
  'SCHEDULER',
  'LEADER_PRIORITY',
  'LEADER_URL',
  'REPLICATION_TOKEN',
  'SERVER',
  'TRACE_CAPACITY',
] as const;

/** Service / node name of follower `i` (0-based): follower1, follower2, ... */
export function followerName(i: number): string {
  return `follower${i + 1}`;
}

/** Ports leaderPort+1 .. leaderPort+n. */
export function defaultFollowerPorts(n: number, leaderPort: number): number[] {
  return Array.from({ length: n }, (_, i) => leaderPort + 1 + i);
}

/** FOLLOWERS as the leader container sees them in docker-compose.yml. */
export function composeFollowerUrls(n = DEFAULT_FOLLOWER_COUNT): string[] {
  return Array.from({ length: n }, (_, i) => `http://${followerName(i)}:${CONTAINER_PORT}`);
}

export interface ClusterOptions {
  /** W, 1..followers. */
  writeQuorum: number;
  /** Number of followers. Default 5. */
  followers?: number;
  /** Injected delay bounds, ms. Defaults 0.1 and 1. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Leader's QUORUM_TIMEOUT, ms. Default 2000. */
  quorumTimeoutMs?: number;
  /** Leader's REPLICATION_TIMEOUT, ms. Default: the node's (5000). */
  replicationTimeoutMs?: number;
  /** DELAY_SEED (uint32). Default: the leader picks one (see its /stats). */
  delaySeed?: number;
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  /** 0 = ephemeral (default); the CLI uses 8000. */
  leaderPort?: number;
  /** One per follower; default all ephemeral; the CLI uses 8001.. */
  followerPorts?: number[];
  scheduler?: SchedulerStrategy;
  /** HTTP server of every node: 'http' (default, node:http) or 'express' (SERVER). */
  server?: ServerKind;
  /**
   * Priority of the leader's replication thread (LEADER_PRIORITY): 'auto' (default) = SCHED_FIFO
   * for that thread alone when permitted; 'realtime' requires it (QL_ERR_REALTIME if not
   * permitted); 'normal' never. The processes themselves always run at normal priority.
   * See nodes/priority.ts.
   */
  leaderPriority?: LeaderPriority;
  /**
   * REPLICATION_TOKEN for every node (followers then need it on /replicate, /snapshot and
   * /stats/reset; the leader on PUT /config and POST /stats/reset). Default: none, every endpoint
   * open. Also taken from `env.REPLICATION_TOKEN`. Exposed as RunningCluster.replicationToken.
   */
  replicationToken?: string;
  /** Extra environment for every node (overridden by the settings above). */
  env?: Record<string, string>;
  /** Bound on the whole start (spawn, listen, health), ms. Default 30000. */
  startTimeoutMs?: number;
  /** Bound on stop() per node before SIGKILL, ms. Default 5000. */
  stopTimeoutMs?: number;
  /** Receives each line the nodes print (stdout and stderr); default: discarded (stderr kept for errors). */
  log?: (node: string, line: string) => void;
}

export interface ClusterNode {
  name: string;
  role: 'leader' | 'follower';
  pid: number;
  url: string;
}

export interface NodeExit {
  name: string;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** running = serving, paused = SIGSTOPped by pause(), stopped = exited (killed or crashed). */
export type NodeRunState = 'running' | 'paused' | 'stopped';

export interface RunningCluster {
  leaderUrl: string;
  followerUrls: string[];
  /** Leader first, then followers in order. */
  pids: number[];
  nodes: ClusterNode[];
  /** SIGTERM every node, wait for it to exit, SIGKILL after stopTimeoutMs. Idempotent. */
  stop(): Promise<void>;
  /** Called when a node exits while the cluster is running (not during stop(), not after kill()). */
  onUnexpectedExit(listener: (exit: NodeExit) => void): void;
  /** The REPLICATION_TOKEN every node got, if any: send it as `Authorization: Bearer` to admin endpoints. */
  replicationToken?: string;
  /** The priority the leader's replication thread gets ('realtime' = SCHED_FIFO 1; its /stats `replication.priority` confirms), for the run's metadata. */
  leaderPriority: AppliedPriority;
  /** The HTTP server every node runs ('http' or 'express'), for the run's metadata. */
  server: ServerKind;
  /**
   * Fault injection (for the harness's fault schedule). Operations on one node run one at a time,
   * in call order; `name` is 'leader' or 'follower1'..; unknown names reject with QL_ERR_UNKNOWN_NODE.
   * kill: send `signal` (default SIGKILL, a crash) and resolve once the process has exited. A paused
   *   node is continued first for SIGTERM. Rejects with QL_ERR_NODE_STATE if it is not running.
   */
  kill(name: string, signal?: 'SIGKILL' | 'SIGTERM'): Promise<NodeExit>;
  /**
   * Start a follower again on the same port (empty store, new boot id); kills it first (SIGKILL)
   * if it is still running or paused. Resolves once it answers /health; `pids` and `nodes` are
   * updated in place. The leader cannot be restarted (QL_ERR_NODE_STATE): its version counter
   * would start again at 0.
   */
  restart(name: string): Promise<ClusterNode>;
  /** SIGSTOP: the process stays alive but answers nothing (its sockets accept, requests hang). */
  pause(name: string): Promise<void>;
  /** SIGCONT after pause(). */
  resume(name: string): Promise<void>;
  nodeState(name: string): NodeRunState;
  /**
   * Resolve when the leader counts this follower `up` again with its current boot id, i.e. caught
   * up after a restart or outage; the value is the time waited, ms. Rejects with
   * QL_ERR_NOT_CAUGHT_UP after `timeoutMs` (default 30000).
   */
  waitCaughtUp(name: string, options?: { timeoutMs?: number; pollMs?: number }): Promise<number>;
}

export type ClusterErrorCode =
  | 'QL_ERR_PORT_IN_USE'
  | 'QL_ERR_NODE_START'
  | 'QL_ERR_START_TIMEOUT'
  | 'QL_ERR_UNHEALTHY'
  | 'QL_ERR_UNKNOWN_NODE'
  | 'QL_ERR_NODE_STATE'
  | 'QL_ERR_NOT_CAUGHT_UP'
  | 'QL_ERR_REALTIME'
  | 'QL_ERR_LEADER_PRIORITY'
  | 'QL_ERR_BUNDLE';

export class ClusterError extends QuorumLabError {
  declare readonly code: ClusterErrorCode;
  constructor(
    code: ClusterErrorCode,
    message: string,
    /** Node concerned (leader, follower1, ...), if any. */
    readonly node?: string,
    readonly port?: number,
    /** Pids of every process this start spawned (all stopped by the time the error is thrown). */
    readonly pids: number[] = [],
  ) {
    super(code, message);
  }
}

interface Child {
  name: string;
  role: 'leader' | 'follower';
  proc: ChildProcess;
  port: number;
  /** Environment given to spawnNode (reused, with the bound port, by restart). */
  env: Record<string, string>;
  exited: boolean;
  /** Set by kill()/restart(): the exit is not reported as unexpected. */
  expectedExit: boolean;
  paused: boolean;
  exit: Promise<void>;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stderrTail: string[];
}

function validate(options: ClusterOptions) {
  const followers = options.followers ?? DEFAULT_FOLLOWER_COUNT;
  if (!Number.isInteger(followers) || followers < 1)
    throw new ConfigError('followers', `must be an integer ≥ 1, got ${followers}`);
  validateWriteQuorum(options.writeQuorum, followers, 'writeQuorum');
  const minDelayMs = options.minDelayMs ?? DEFAULT_MIN_DELAY_MS;
  const maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  validateDelays(minDelayMs, maxDelayMs);
  const quorumTimeoutMs = options.quorumTimeoutMs ?? DEFAULT_QUORUM_TIMEOUT_MS;
  if (!(quorumTimeoutMs > 0)) throw new ConfigError('quorumTimeoutMs', `must be > 0, got ${quorumTimeoutMs}`);
  if (options.replicationTimeoutMs !== undefined && !(options.replicationTimeoutMs > 0)) {
    throw new ConfigError('replicationTimeoutMs', `must be > 0, got ${options.replicationTimeoutMs}`);
  }
  const leaderPort = parsePort(options.leaderPort ?? 0, 'leaderPort');
  const followerPorts = (options.followerPorts ?? new Array<number>(followers).fill(0)).map((p) =>
    parsePort(p, 'followerPorts'),
  );
  if (followerPorts.length !== followers) {
    throw new ConfigError('followerPorts', `needs ${followers} ports (one per follower), got ${followerPorts.length}`);
  }
  const fixed = [leaderPort, ...followerPorts].filter((p) => p !== 0);
  if (new Set(fixed).size !== fixed.length)
    throw new ConfigError('followerPorts', `ports must be distinct: ${fixed.join(', ')}`);
  if (options.delaySeed !== undefined) parseSeed(options.delaySeed, 'delaySeed');
  const replicationToken = options.replicationToken ?? options.env?.REPLICATION_TOKEN;
  if (replicationToken !== undefined) {
    try {
      validateToken(replicationToken);
    } catch (err) {
      if (err instanceof TokenError) throw new ConfigError('replicationToken', err.message);
      throw err;
    }
  }
  const server = parseServerKind(options.server ?? DEFAULT_SERVER, 'server');
  return { followers, minDelayMs, maxDelayMs, quorumTimeoutMs, leaderPort, followerPorts, replicationToken, server };
}

/** `1.5` → `"1.5ms"`, exact enough for the node's duration parser. */
function msEnv(ms: number): string {
  return `${ms}ms`;
}

function resolveLeaderPriority(options: ClusterOptions): { wanted: LeaderPriority; applied: AppliedPriority } {
  const wanted = options.leaderPriority ?? DEFAULT_LEADER_PRIORITY;
  if (!LEADER_PRIORITIES.includes(wanted)) {
    throw new ClusterError(
      'QL_ERR_LEADER_PRIORITY',
      `leaderPriority must be one of ${LEADER_PRIORITIES.join(', ')}, got ${JSON.stringify(wanted)}`,
    );
  }
  const applied = resolvePriority(wanted);
  if (applied === null) {
    throw new ClusterError(
      'QL_ERR_REALTIME',
      'leaderPriority realtime: `chrt -f 1` is not permitted or not installed here (needs root or CAP_SYS_NICE and util-linux); use auto or normal',
    );
  }
  return { wanted, applied };
}

/** Built (or found fresh in the cache) once per cluster; every node then starts as plain JavaScript. */
async function nodeEntry(): Promise<string> {
  try {
    return await ensureNodeBundle();
  } catch (err) {
    throw new ClusterError(
      'QL_ERR_BUNDLE',
      `cannot build the node program (lib/node-bundle.mjs): ${(err as Error).message}`,
    );
  }
}

/** The parent's environment without any node setting, then the cluster's own. */
function baseEnvFor(options: ClusterOptions, v: ReturnType<typeof validate>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of NODE_ENV_NAMES) delete env[name];
  Object.assign(env, options.env);
  if (v.replicationToken !== undefined) env.REPLICATION_TOKEN = v.replicationToken;
  env.SERVER = v.server;
  return env;
}

function leaderEnvFor(
  options: ClusterOptions,
  v: ReturnType<typeof validate>,
  followerUrls: readonly string[],
): Record<string, string> {
  return {
    PORT: String(v.leaderPort),
    FOLLOWERS: followerUrls.join(','),
    WRITE_QUORUM: String(options.writeQuorum),
    MIN_DELAY: msEnv(v.minDelayMs),
    MAX_DELAY: msEnv(v.maxDelayMs),
    QUORUM_TIMEOUT: msEnv(v.quorumTimeoutMs),
    ...(options.replicationTimeoutMs !== undefined ? { REPLICATION_TIMEOUT: msEnv(options.replicationTimeoutMs) } : {}),
    ...(options.delaySeed !== undefined ? { DELAY_SEED: String(options.delaySeed) } : {}),
    ...(options.scheduler ? { SCHEDULER: options.scheduler } : {}),
  };
}

interface SpawnSettings {
  mainEntry: string;
  baseEnv: Record<string, string | undefined>;
  host: string;
  wantedPriority: LeaderPriority;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  /** Default bound on each node's start (Date.now() time). */
  deadline: number;
  log?: (node: string, line: string) => void;
}

type SpawnNode = AdminDeps['spawnNode'];

/** The node processes of one cluster: spawning, unexpected-exit reporting, stopping them all. */
interface ProcessSet {
  current: Map<string, Child>;
  spawnNode: SpawnNode;
  onUnexpectedExit(listener: (e: NodeExit) => void): void;
  /** Start reporting unexpected exits. */
  markRunning(): void;
  /** Stop every process ever spawned; idempotent. */
  stop(): Promise<void>;
  isStopping(): boolean;
  /** Pids of every process spawned, restarts included. */
  spawnedPids(): number[];
}

function createProcessSet(s: SpawnSettings): ProcessSet {
  /** Every process spawned, restarts included. */
  const children: Child[] = [];
  const current = new Map<string, Child>();
  const exitListeners: Array<(e: NodeExit) => void> = [];
  let running = false;
  let stopping: Promise<void> | undefined;

  // No orphans: if this process exits without stop(), take the nodes down with it. (The nodes also
  // exit on their own when the IPC channel to this process closes, e.g. after a SIGKILL.)
  const onParentExit = () => {
    for (const c of children) {
      if (c.exited) continue;
      c.proc.kill('SIGTERM');
      // A stopped process acts on SIGTERM only once continued.
      if (c.paused) c.proc.kill('SIGCONT');
    }
  };
  process.on('exit', onParentExit);

  async function stopAll(): Promise<void> {
    await Promise.all(children.map((c) => stopChild(c, s.stopTimeoutMs)));
    process.off('exit', onParentExit);
  }

  const spawnNode: SpawnNode = (name, role, env, readyBy = s.deadline) => {
    const child = spawnChild(s, name, role, env);
    children.push(child);
    current.set(name, child);
    const ready = waitListening(s, child, readyBy);
    child.proc.on('exit', (code, signal) => {
      if (running && !stopping && !child.expectedExit)
        for (const l of exitListeners) l({ name, pid: child.proc.pid ?? -1, code, signal });
    });
    return { child, ready };
  };

  return {
    current,
    spawnNode,
    onUnexpectedExit: (listener) => void exitListeners.push(listener),
    markRunning() {
      running = true;
    },
    stop() {
      stopping ??= stopAll();
      return stopping;
    },
    isStopping: () => stopping !== undefined,
    spawnedPids: () => children.map((c) => c.proc.pid).filter((p): p is number => p !== undefined),
  };
}

/** SIGTERM, and SIGKILL after stopTimeoutMs. */
async function stopChild(c: Child, stopTimeoutMs: number): Promise<void> {
  if (c.exited) return;
  c.proc.kill('SIGTERM');
  if (c.paused) c.proc.kill('SIGCONT');
  const timer = setTimeout(() => {
    if (!c.exited) c.proc.kill('SIGKILL');
  }, stopTimeoutMs);
  await c.exit;
  clearTimeout(timer);
}

function spawnChild(s: SpawnSettings, name: string, role: 'leader' | 'follower', env: Record<string, string>): Child {
  const proc = spawn(process.execPath, [s.mainEntry], {
    env: {
      ...s.baseEnv,
      ...env,
      ROLE: role,
      HOST: s.host,
      ...(role === 'leader' ? { LEADER_PRIORITY: s.wantedPriority } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // Own process group: a terminal's Ctrl-C reaches only the launcher, which then stops the
    // nodes itself (otherwise their exits could race its handler and look like crashes).
    detached: true,
  });
  let exitResolve!: () => void;
  const child: Child = {
    name,
    role,
    proc,
    port: 0,
    env,
    exited: false,
    expectedExit: false,
    paused: false,
    exit: new Promise<void>((r) => (exitResolve = r)),
    exitInfo: undefined,
    stderrTail: [],
  };
  forwardLines(proc.stdout!, (line) => s.log?.(name, line));
  forwardLines(proc.stderr!, (line) => {
    child.stderrTail.push(line);
    if (child.stderrTail.length > 20) child.stderrTail.shift();
    s.log?.(name, line);
  });
  proc.on('exit', (code, signal) => {
    child.exited = true;
    child.paused = false;
    child.exitInfo = { code, signal };
    exitResolve();
  });
  return child;
}

/** The node's port once it reports `listening` over IPC; a ClusterError if it fails, exits or is late. */
function waitListening(s: SpawnSettings, child: Child, readyBy: number): Promise<number> {
  const { name, proc, env } = child;
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new ClusterError(
            'QL_ERR_START_TIMEOUT',
            `${name} did not start listening within ${s.startTimeoutMs} ms`,
            name,
          ),
        ),
      Math.max(0, readyBy - Date.now()),
    );
    proc.on('message', (msg: { cmd?: string; data?: { port?: number; code?: string; message?: string } }) => {
      if (msg?.cmd === 'listening' && typeof msg.data?.port === 'number') {
        clearTimeout(timer);
        child.port = msg.data.port;
        resolve(msg.data.port);
      } else if (msg?.cmd === 'error') {
        clearTimeout(timer);
        const port = Number(env.PORT);
        if (msg.data?.code === 'EADDRINUSE') {
          reject(
            new ClusterError('QL_ERR_PORT_IN_USE', `${name}: port ${port} on ${s.host} is already in use`, name, port),
          );
        } else {
          reject(
            new ClusterError(
              'QL_ERR_NODE_START',
              `${name} failed to start: ${msg.data?.message ?? 'unknown error'}`,
              name,
              port,
            ),
          );
        }
      }
    });
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(new ClusterError('QL_ERR_NODE_START', `${name}: cannot spawn ${process.execPath}: ${err.message}`, name));
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      const tail = child.stderrTail.join('\n');
      reject(
        new ClusterError(
          'QL_ERR_NODE_START',
          `${name} exited during start (code ${code}, signal ${signal})${tail ? `:\n${tail}` : ''}`,
          name,
        ),
      );
    });
  });
}

/** Start a cluster; resolves once every node answers /health. On failure, stops what it started and rejects. */
export async function startCluster(options: ClusterOptions): Promise<RunningCluster> {
  const v = validate(options);
  const host = options.host ?? DEFAULT_HOST;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const priority = resolveLeaderPriority(options);
  const settings: SpawnSettings = {
    mainEntry: await nodeEntry(),
    baseEnv: baseEnvFor(options, v),
    host,
    wantedPriority: priority.wanted,
    startTimeoutMs,
    stopTimeoutMs: options.stopTimeoutMs ?? 5000,
    deadline: Date.now() + startTimeoutMs,
    ...(options.log ? { log: options.log } : {}),
  };
  const procs = createProcessSet(settings);
  try {
    return await launchNodes(options, v, settings, procs, priority.applied);
  } catch (err) {
    await procs.stop();
    const pids = procs.spawnedPids();
    if (err instanceof ClusterError) throw new ClusterError(err.code, err.message, err.node, err.port, pids);
    throw new ClusterError(
      'QL_ERR_NODE_START',
      `cluster start failed: ${(err as Error).message}`,
      undefined,
      undefined,
      pids,
    );
  }
}

/** Followers first, all in parallel; then the leader, which needs their real ports; then every /health. */
async function launchNodes(
  options: ClusterOptions,
  v: ReturnType<typeof validate>,
  s: SpawnSettings,
  procs: ProcessSet,
  leaderPriority: AppliedPriority,
): Promise<RunningCluster> {
  const followers = Array.from({ length: v.followers }, (_, i) =>
    procs.spawnNode(followerName(i), 'follower', { PORT: String(v.followerPorts[i]) }),
  );
  const followerPorts = await Promise.all(followers.map((f) => f.ready));
  const followerUrls = followerPorts.map((p) => baseUrl(s.host, p));
  const leader = procs.spawnNode('leader', 'leader', leaderEnvFor(options, v, followerUrls));
  const leaderUrl = baseUrl(s.host, await leader.ready);
  await Promise.all([
    waitHealthy('leader', leaderUrl, 'leader', s.deadline),
    ...followerUrls.map((u, i) => waitHealthy(followerName(i), u, 'follower', s.deadline)),
  ]);
  procs.markRunning();
  const ordered = [leader.child, ...followers.map((f) => f.child)];
  const pids = ordered.map((c) => c.proc.pid!);
  const nodes: ClusterNode[] = ordered.map((c) => ({
    name: c.name,
    role: c.role,
    pid: c.proc.pid!,
    url: baseUrl(s.host, c.port),
  }));
  const admin = createAdmin({
    current: procs.current,
    nodes,
    pids,
    spawnNode: procs.spawnNode,
    waitHealthy,
    host: s.host,
    startTimeoutMs: s.startTimeoutMs,
    stopTimeoutMs: s.stopTimeoutMs,
    isStopping: procs.isStopping,
  });
  return {
    leaderUrl,
    followerUrls,
    pids,
    nodes,
    ...(v.replicationToken !== undefined ? { replicationToken: v.replicationToken } : {}),
    leaderPriority,
    server: v.server,
    stop: procs.stop,
    onUnexpectedExit: procs.onUnexpectedExit,
    ...admin,
    waitCaughtUp: (name, opts) => {
      const i = followerIndex(name, nodes);
      return waitFollowerCaughtUp(leaderUrl, followerUrls[i]!, i, { name, ...opts });
    },
  };
}

/** Index among the followers of 'followerK'; QL_ERR_UNKNOWN_NODE / QL_ERR_NODE_STATE otherwise. */
function followerIndex(name: string, nodes: readonly ClusterNode[]): number {
  const node = nodes.find((n) => n.name === name);
  if (!node)
    throw new ClusterError(
      'QL_ERR_UNKNOWN_NODE',
      `no node named ${JSON.stringify(name)} (known: ${nodes.map((n) => n.name).join(', ')})`,
      name,
    );
  if (node.role !== 'follower') throw new ClusterError('QL_ERR_NODE_STATE', `${name} is not a follower`, name);
  return nodes.indexOf(node) - 1;
}

interface AdminDeps {
  current: Map<string, Child>;
  nodes: ClusterNode[];
  pids: number[];
  spawnNode(
    name: string,
    role: 'leader' | 'follower',
    env: Record<string, string>,
    readyBy?: number,
  ): { child: Child; ready: Promise<number> };
  waitHealthy(name: string, url: string, role: string, deadline: number): Promise<void>;
  host: string;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  isStopping(): boolean;
}

/** kill / restart / pause / resume / nodeState, serialised per node. */
function createAdmin(d: AdminDeps): Pick<RunningCluster, 'kill' | 'restart' | 'pause' | 'resume' | 'nodeState'> {
  const queues = new Map<string, Promise<unknown>>();

  function child(name: string): Child {
    const c = d.current.get(name);
    if (!c)
      throw new ClusterError(
        'QL_ERR_UNKNOWN_NODE',
        `no node named ${JSON.stringify(name)} (known: ${d.nodes.map((n) => n.name).join(', ')})`,
        name,
      );
    return c;
  }

  /** Run `op` after the earlier operations on the same node (whatever their outcome). */
  function serial<T>(name: string, op: () => Promise<T>): Promise<T> {
    try {
      child(name);
    } catch (err) {
      return Promise.reject(err);
    }
    if (d.isStopping())
      return Promise.reject(new ClusterError('QL_ERR_NODE_STATE', `cluster is stopping; cannot change ${name}`, name));
    const prev = queues.get(name) ?? Promise.resolve();
    const next = prev.then(op, op);
    queues.set(
      name,
      next.catch(() => {}),
    );
    return next;
  }

  const killNow = (c: Child, signal: 'SIGKILL' | 'SIGTERM'): Promise<NodeExit> => killChild(c, signal, d.stopTimeoutMs);

  function state(c: Child): NodeRunState {
    return c.exited ? 'stopped' : c.paused ? 'paused' : 'running';
  }

  return {
    nodeState: (name) => state(child(name)),
    kill: (name, signal = 'SIGKILL') =>
      serial(name, async () => {
        const c = child(name);
        if (c.exited) throw new ClusterError('QL_ERR_NODE_STATE', `${name} is not running`, name);
        return killNow(c, signal);
      }),
    pause: (name) =>
      serial(name, async () => {
        const c = child(name);
        if (c.exited) throw new ClusterError('QL_ERR_NODE_STATE', `${name} is not running`, name);
        if (c.paused) return;
        c.proc.kill('SIGSTOP');
        c.paused = true;
      }),
    resume: (name) =>
      serial(name, async () => {
        const c = child(name);
        if (c.exited) throw new ClusterError('QL_ERR_NODE_STATE', `${name} is not running`, name);
        if (!c.paused) return;
        c.proc.kill('SIGCONT');
        c.paused = false;
      }),
    restart: (name) => serial(name, () => restartFollower(d, child(name))),
  };
}

/** Signal a node on purpose (not reported as unexpected); SIGKILL after stopTimeoutMs. */
async function killChild(c: Child, signal: 'SIGKILL' | 'SIGTERM', stopTimeoutMs: number): Promise<NodeExit> {
  c.expectedExit = true;
  c.proc.kill(signal);
  if (c.paused && signal !== 'SIGKILL') c.proc.kill('SIGCONT');
  const timer = setTimeout(() => {
    if (!c.exited) c.proc.kill('SIGKILL');
  }, stopTimeoutMs);
  await c.exit;
  clearTimeout(timer);
  return { name: c.name, pid: c.proc.pid ?? -1, code: c.exitInfo?.code ?? null, signal: c.exitInfo?.signal ?? null };
}

/** A follower again on its port, with an empty store; `nodes` and `pids` are updated in place. */
async function restartFollower(d: AdminDeps, old: Child): Promise<ClusterNode> {
  const name = old.name;
  if (old.role !== 'follower') {
    throw new ClusterError(
      'QL_ERR_NODE_STATE',
      `${name} cannot be restarted: a new leader would number versions from 0 again`,
      name,
    );
  }
  if (!old.exited) await killChild(old, 'SIGKILL', d.stopTimeoutMs);
  const readyBy = Date.now() + d.startTimeoutMs;
  const { child: fresh, ready } = d.spawnNode(name, 'follower', { ...old.env, PORT: String(old.port) }, readyBy);
  try {
    const port = await ready;
    const url = baseUrl(d.host, port);
    await d.waitHealthy(name, url, 'follower', readyBy);
    const i = d.nodes.findIndex((n) => n.name === name);
    d.pids[i] = fresh.proc.pid!;
    const node: ClusterNode = { name, role: 'follower', pid: fresh.proc.pid!, url };
    d.nodes[i] = node;
    return node;
  } catch (err) {
    // Leave the node stopped, not half-started; a later restart() may try again.
    if (!fresh.exited) await killChild(fresh, 'SIGKILL', d.stopTimeoutMs);
    throw err instanceof ClusterError
      ? err
      : new ClusterError('QL_ERR_NODE_START', `${name}: restart failed: ${(err as Error).message}`, name);
  }
}

function forwardLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => {
    if (buf) onLine(buf);
  });
}

/** Poll GET /health until it answers ok with the expected role (bounded by the start deadline). */
async function waitHealthy(name: string, url: string, role: string, deadline: number): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 200 && Date.now() < deadline; attempt++) {
    try {
      const res = await request(`${url}/health`, { headersTimeout: 2000, bodyTimeout: 2000 });
      const body = (await res.body.json()) as { status?: string; role?: string };
      if (res.statusCode === 200 && body.status === 'ok' && body.role === role) return;
      last = `status ${res.statusCode}, body ${JSON.stringify(body)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new ClusterError('QL_ERR_UNHEALTHY', `${name} at ${url} is not healthy: ${last}`, name);
}
