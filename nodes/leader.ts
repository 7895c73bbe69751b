/**
 * The leader: assigns versions, applies writes locally, replicates every write to every follower
 * after an injected delay, and answers the client once W followers acknowledged.
 *
 * Three units (nodes/replication/): the write path on the main thread (write-path.ts), the
 * replication engine in its own thread (engine.ts, engine-thread.mjs), and the per-follower
 * bookkeeping (followers.ts, follower-link.ts). This file wires them and serves the routes.
 */
import type { IncomingMessage } from 'node:http';
import type { Express } from 'express';
import { DEFAULT_TRACE_CAPACITY, monotonicUs, type LeaderWriteTrace, type TraceDump } from '../contracts/trace.ts';
import { createRng, randomSeed, type Rng } from '../lib/rng.ts';
import {
  ConfigError,
  DEFAULT_MAX_DELAY_MS,
  DEFAULT_MIN_DELAY_MS,
  DEFAULT_QUORUM_TIMEOUT_MS,
  DEFAULT_REPLICATION_TIMEOUT_MS,
  DEFAULT_SCHEDULER,
  DEFAULT_WRITE_QUORUM,
  parseSeed,
  validateDelays,
  validateFollowerUrls,
  validateWriteQuorum,
  type SchedulerStrategy,
} from './config.ts';
import { adminResetRoutes } from './admin-reset.ts';
import { createTokenCheck, guarded } from './auth.ts';
import type { NodeServer } from './follower.ts';
import {
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_REPLICATION_BODY_LIMIT_BYTES,
  HttpError,
  createDispatcher,
  createServerHandle,
  type RouteListenerFactory,
  isPlainObject,
  readJsonBody,
  sendJson,
  sendJsonText,
  toExpressApp,
  type RouteTable,
} from './http-util.ts';
import { DEFAULT_LEADER_PRIORITY, LEADER_PRIORITIES, type LeaderPriority } from './priority.ts';
import { ReplicationEngine } from './replication/engine.ts';
import { Followers } from './replication/followers.ts';
import { createLeaderStats } from './replication/leader-stats.ts';
import { createWritePath, type WritePath } from './replication/write-path.ts';
import { VersionedStore } from './store.ts';
import { storeRoutes } from './store-routes.ts';
import { TraceRing } from './trace-ring.ts';

export interface LeaderOptions {
  /** Follower base URLs (`http://host:port`), at least one. */
  followers: string[];
  /** W: follower acks required before answering, 1..followers. Default min(3, followers). */
  writeQuorum?: number;
  /** Injected replication delay, uniform in [minDelayMs, maxDelayMs], ms. Defaults 0.1 and 1. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** How long a write waits for its W acks before 503 quorum_not_reached, ms. Default 2000. */
  quorumTimeoutMs?: number;
  /** Bound on one replication request (connect, headers, body), ms. Default 5000. */
  replicationTimeoutMs?: number;
  /** Seed of the delay sequence (uint32). Ignored when `rng` is given. Default: random, reported in /stats. */
  delaySeed?: number;
  /** Source of delay draws (takes precedence over delaySeed). */
  rng?: Rng;
  /** Delay strategy of the replication thread: 'precise' (default) or 'timeout' (setTimeout per leg, the naive baseline). */
  scheduler?: SchedulerStrategy;
  /** Priority of the replication thread: 'auto' (default: SCHED_FIFO when permitted), 'realtime' (required), 'normal'. */
  priority?: LeaderPriority;
  /** Traced writes kept for GET /trace. Default DEFAULT_TRACE_CAPACITY. */
  traceCapacity?: number;
  /** Builds the server's request listener from the routes: node:http dispatch (default) or nodes/express-app.ts. */
  createListener?: RouteListenerFactory;
  /** Tests only. afterSchedule runs on the main thread right after each write was handed to the replication thread. */
  testHooks?: { afterSchedule?: () => void };
  /** Largest accepted request body, bytes. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** Most keep-alive connections per follower; further requests queue (still counted pending). Default 64. */
  connectionsPerFollower?: number;
  /** close(): how long to let in-flight requests and replications finish, ms. Default 2000. */
  closeGraceMs?: number;
  /** When set: sent to followers as `Authorization: Bearer`, and required on PUT /config and POST /stats/reset. */
  replicationToken?: string;
  /** Largest replication message, bytes; a write whose message would be larger gets 413. Default 4 MiB (as the follower's). */
  replicationBodyLimitBytes?: number;
  /** Health probe period, ms: down followers every tick, idle up followers after `idleProbeMs`. 0 = no probes. Default 250. */
  probeIntervalMs?: number;
  /** Probe an up follower not heard from for this long, ms. Default 1000. */
  idleProbeMs?: number;
  /** Bound on one probe, ms. Default 1000 (or REPLICATION_TIMEOUT if smaller). */
  probeTimeoutMs?: number;
  /** Replications scheduled or in flight to one follower beyond which it is taken down (bounded memory). Default 4096. */
  maxPendingPerFollower?: number;
  /** Target size of one catch-up /snapshot request, bytes. Default 256 KiB. */
  snapshotChunkBytes?: number;
}

export interface LeaderServer extends NodeServer {
  readonly store: VersionedStore;
  /** Current W (changed by PUT /config). */
  readonly writeQuorum: number;
  /** Replications scheduled or in flight. */
  readonly pendingReplications: number;
  /** Kernel thread id of the replication thread (once listening). */
  readonly replicationThreadIds: string[];
}

export function createLeader(options: LeaderOptions): LeaderServer {
  const c = resolveLeaderOptions(options);
  const quorum = { w: c.writeQuorum };
  const store = new VersionedStore();
  const parts = createReplication(c, options, store, () => quorum.w);
  const { engine, followers, stats } = parts;
  const routes = leaderRoutes(c, createTokenCheck(options.replicationToken), store, parts, quorum);

  const dispatch = (options.createListener ?? createDispatcher)(routes, {
    onHttpError: (path) => {
      if (path === '/write') stats.counters.rejected++;
    },
  });
  const server = createServerHandle(dispatch);
  let app: Express | undefined;
  let closing: Promise<void> | undefined;
  return {
    get app() {
      app ??= toExpressApp(dispatch);
      return app;
    },
    store,
    get writeQuorum() {
      return quorum.w;
    },
    get pendingReplications() {
      return followers.pending;
    },
    get replicationThreadIds() {
      return engine.threadIds;
    },
    // The replication thread must run (with its priority) before the first write can arrive.
    listen: async (port, host) => {
      await engine.ready;
      const bound = await server.listen(port, host);
      followers.startProbing();
      return bound;
    },
    close() {
      closing ??= (async () => {
        await server.closeServer(c.closeGraceMs);
        // Let background replication reach the followers before dropping it.
        await followers.waitIdle(c.closeGraceMs);
        await engine.close(200);
        await followers.close(200);
      })();
      return closing;
    },
  };
}

/** The three units of the leader: replication thread, per-follower bookkeeping, write path. */
function createReplication(
  c: ResolvedLeaderOptions,
  options: LeaderOptions,
  store: VersionedStore,
  quorum: () => number,
) {
  const stats = createLeaderStats(c.followerUrls.length);
  const traces = new TraceRing<LeaderWriteTrace>(options.traceCapacity ?? DEFAULT_TRACE_CAPACITY);
  // Assigned right below: the engine reports results into the write path, which needs the engine.
  let writePath: WritePath | undefined;
  const engine = new ReplicationEngine({
    urls: c.followerUrls,
    connections: options.connectionsPerFollower ?? 64,
    timeoutMs: c.replicationTimeoutMs,
    token: options.replicationToken,
    strategy: c.strategy,
    priority: c.priority,
    onResults: (r) => writePath!.onResults(r),
  });
  const followers = new Followers({
    urls: c.followerUrls,
    replicationTimeoutMs: c.replicationTimeoutMs,
    token: options.replicationToken,
    probeTimeoutMs: options.probeTimeoutMs ?? Math.min(1000, c.replicationTimeoutMs),
    snapshotChunkBytes: options.snapshotChunkBytes ?? 256 * 1024,
    probeIntervalMs: options.probeIntervalMs ?? 250,
    idleProbeMs: options.idleProbeMs ?? 1000,
    maxPending: options.maxPendingPerFollower ?? 4096,
    source: {
      entries: () => store.entries(),
      get size() {
        return store.size;
      },
      get version() {
        return writePath!.version;
      },
    },
    setDown: (i, down) => engine.setDown(i, down),
  });
  writePath = createWritePath({
    store,
    followers,
    engine,
    stats,
    rng: c.rng,
    minDelayUs: c.minDelayMs * 1000,
    spanDelayUs: (c.maxDelayMs - c.minDelayMs) * 1000,
    quorumTimeoutMs: c.quorumTimeoutMs,
    bodyLimitBytes: c.bodyLimitBytes,
    replicationBodyLimitBytes: c.replicationBodyLimitBytes,
    quorum,
    traces,
    afterSchedule: options.testHooks?.afterSchedule,
  });
  return { engine, followers, stats, traces, writePath };
}

type Replication = ReturnType<typeof createReplication>;

function leaderRoutes(
  c: ResolvedLeaderOptions,
  check: (req: IncomingMessage) => void,
  store: VersionedStore,
  r: Replication,
  quorum: { w: number },
): RouteTable {
  const { engine, followers, stats, traces, writePath } = r;
  const statsJson = () => ({
    role: 'leader',
    quorum: quorum.w,
    version: writePath.version,
    ...stats.writesJson(),
    replication: { pending: followers.pendingWithCatchUps, ...stats.legsJson(), ...engine.statsJson() },
    availability: { ...followers.stateCounts(), quorum: quorum.w, writable: followers.available >= quorum.w },
    followers: followers.statsJson(writePath.version),
    delays: {
      strategy: c.strategy,
      minDelayMs: c.minDelayMs,
      maxDelayMs: c.maxDelayMs,
      seed: c.delaySeed ?? null,
      ...stats.delaysJson(),
    },
    writeLatencyUs: stats.writeLatencyUs.toJSON(),
    writeLatencyHdr: stats.writeLatencyUs.encode(),
  });
  const traceDump = (): TraceDump => ({
    role: 'leader',
    nowUs: monotonicUs(),
    capacity: traces.capacity,
    dropped: traces.dropped,
    writes: traces.snapshot(),
  });
  const health = () => ({
    status: 'ok',
    role: 'leader',
    quorum: quorum.w,
    followers: c.followerUrls,
    followerStates: followers.links.map((l) => l.state),
    up: followers.up,
    available: followers.available,
  });
  return {
    '/write': { POST: writePath.handleWrite },
    ...storeRoutes(store),
    '/health': { GET: (_req, res) => sendJson(res, 200, health()) },
    '/stats': { GET: (_req, res) => sendJson(res, 200, statsJson()) },
    '/stats/reset': {
      POST: guarded(check, (_req, res) => {
        stats.reset();
        followers.resetStats();
        engine.resetStats();
        traces.clear();
        sendJsonText(res, 200, '{"status":"ok"}');
      }),
    },
    '/trace': { GET: (_req, res) => sendJson(res, 200, traceDump()) },
    ...adminResetRoutes(check, store, () => followers.pendingWithCatchUps),
    '/config': {
      GET: (_req, res) => sendJson(res, 200, { ...configJson(c), quorum: quorum.w, leaderPriority: c.priority }),
      PUT: guarded(check, async (req, res) => {
        quorum.w = parseQuorumBody(await readJsonBody(req, c.bodyLimitBytes), c.followerUrls.length);
        sendJson(res, 200, { quorum: quorum.w });
      }),
    },
  };
}

function parseQuorumBody(body: unknown, n: number): number {
  if (!isPlainObject(body)) throw new HttpError(400, 'invalid_body', 'body must be a JSON object {"writeQuorum": W}');
  try {
    return validateWriteQuorum(body.writeQuorum, n, 'writeQuorum');
  } catch (err) {
    if (err instanceof ConfigError) throw new HttpError(400, 'invalid_quorum', err.message);
    throw err;
  }
}

function configJson(c: ResolvedLeaderOptions) {
  return {
    followers: c.followerUrls,
    minDelayMs: c.minDelayMs,
    maxDelayMs: c.maxDelayMs,
    quorumTimeoutMs: c.quorumTimeoutMs,
    replicationTimeoutMs: c.replicationTimeoutMs,
    delaySeed: c.delaySeed ?? null,
    scheduler: c.strategy,
  };
}

type ResolvedLeaderOptions = ReturnType<typeof resolveLeaderOptions>;

/** Validate the options and fill in the defaults; throws ConfigError naming the option. */
function resolveLeaderOptions(options: LeaderOptions) {
  const followerUrls = validateFollowerUrls(options.followers, 'followers');
  const n = followerUrls.length;
  const writeQuorum = validateWriteQuorum(options.writeQuorum ?? Math.min(DEFAULT_WRITE_QUORUM, n), n, 'writeQuorum');
  const minDelayMs = options.minDelayMs ?? DEFAULT_MIN_DELAY_MS;
  const maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  validateDelays(minDelayMs, maxDelayMs);
  const quorumTimeoutMs = options.quorumTimeoutMs ?? DEFAULT_QUORUM_TIMEOUT_MS;
  const replicationTimeoutMs = options.replicationTimeoutMs ?? DEFAULT_REPLICATION_TIMEOUT_MS;
  for (const [name, v] of [
    ['quorumTimeoutMs', quorumTimeoutMs],
    ['replicationTimeoutMs', replicationTimeoutMs],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new ConfigError(name, `must be a positive number of ms, got ${v}`);
  }
  const strategy = options.scheduler ?? DEFAULT_SCHEDULER;
  if (strategy !== 'precise' && strategy !== 'timeout')
    throw new ConfigError('scheduler', `must be 'precise' or 'timeout', got ${JSON.stringify(strategy)}`);
  const priority = options.priority ?? DEFAULT_LEADER_PRIORITY;
  if (!LEADER_PRIORITIES.includes(priority))
    throw new ConfigError(
      'priority',
      `must be one of ${LEADER_PRIORITIES.join(', ')}, got ${JSON.stringify(priority)}`,
    );
  const delaySeed = options.rng ? options.delaySeed : parseSeed(options.delaySeed ?? randomSeed(), 'delaySeed');
  return {
    followerUrls,
    writeQuorum,
    minDelayMs,
    maxDelayMs,
    quorumTimeoutMs,
    replicationTimeoutMs,
    strategy,
    priority,
    delaySeed,
    rng: options.rng ?? createRng(delaySeed!),
    bodyLimitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    replicationBodyLimitBytes: options.replicationBodyLimitBytes ?? DEFAULT_REPLICATION_BODY_LIMIT_BYTES,
    closeGraceMs: options.closeGraceMs ?? 2000,
  };
}
