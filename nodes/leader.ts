/**
 * The leader: assigns versions, applies writes locally, replicates every write to every follower
 * after an injected delay, and answers the client once W followers acknowledged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';
import { Pool } from 'undici';
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
import type { NodeServer } from './follower.ts';
import {
  DEFAULT_BODY_LIMIT_BYTES,
  HttpError,
  createDispatcher,
  createServerHandle,
  isPlainObject,
  readJsonBody,
  readKeyParam,
  sendError,
  sendJson,
  sendJsonText,
  toExpressApp,
  type RouteTable,
} from './http-util.ts';
import { createDelayScheduler, type DelayScheduler } from './scheduler.ts';
import { createLatencySummary, type LatencySummary } from './stats.ts';
import { VersionedStore } from './store.ts';

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
  /** Delay scheduler strategy, or a scheduler instance (then the caller owns and closes it). Default 'precise'. */
  scheduler?: SchedulerStrategy | DelayScheduler;
  /** Largest accepted request body, bytes. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** Most keep-alive connections per follower; further requests queue (still counted pending). Default 64. */
  connectionsPerFollower?: number;
  /** close(): how long to let in-flight requests and replications finish, ms. Default 2000. */
  closeGraceMs?: number;
}

export interface LeaderServer extends NodeServer {
  readonly store: VersionedStore;
  /** Current W (changed by PUT /config). */
  readonly writeQuorum: number;
  /** Replications scheduled or in flight. */
  readonly pendingReplications: number;
}

interface FollowerLink {
  url: string;
  pool: Pool;
  sent: number;
  acked: number;
  failed: number;
  pending: number;
  ackedVersion: number;
  ackLatencyUs: LatencySummary;
}

/** One client write waiting for its quorum. */
interface PendingWrite {
  res: ServerResponse;
  key: string;
  value: unknown;
  version: number;
  quorum: number;
  acks: number;
  failed: number;
  done: boolean;
  startMs: number;
  timer: NodeJS.Timeout | undefined;
}

const REPLICATE_HEADERS = { 'content-type': 'application/json' };
const NOT_ROLLED_BACK = 'leader and acked followers; not rolled back';

export function createLeader(options: LeaderOptions): LeaderServer {
  const followerUrls = validateFollowerUrls(options.followers, 'followers');
  const n = followerUrls.length;
  let writeQuorum = validateWriteQuorum(options.writeQuorum ?? Math.min(DEFAULT_WRITE_QUORUM, n), n, 'writeQuorum');
  const minDelayMs = options.minDelayMs ?? DEFAULT_MIN_DELAY_MS;
  const maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  validateDelays(minDelayMs, maxDelayMs);
  const quorumTimeoutMs = options.quorumTimeoutMs ?? DEFAULT_QUORUM_TIMEOUT_MS;
  const replicationTimeoutMs = options.replicationTimeoutMs ?? DEFAULT_REPLICATION_TIMEOUT_MS;
  for (const [name, v] of [['quorumTimeoutMs', quorumTimeoutMs], ['replicationTimeoutMs', replicationTimeoutMs]] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new ConfigError(name, `must be a positive number of ms, got ${v}`);
  }
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const closeGraceMs = options.closeGraceMs ?? 2000;
  const delaySeed = options.rng ? options.delaySeed : parseSeed(options.delaySeed ?? randomSeed(), 'delaySeed');
  const rng = options.rng ?? createRng(delaySeed!);
  const ownsScheduler = typeof options.scheduler !== 'object';
  const strategy: SchedulerStrategy = typeof options.scheduler === 'string' ? options.scheduler : DEFAULT_SCHEDULER;
  const scheduler: DelayScheduler = ownsScheduler
    ? createDelayScheduler({ strategy })
    : (options.scheduler as DelayScheduler);
  const minUs = minDelayMs * 1000;
  const spanUs = (maxDelayMs - minDelayMs) * 1000;

  const store = new VersionedStore();
  let version = 0;
  let replPending = 0;
  let idleWaiters: Array<() => void> = [];

  const links: FollowerLink[] = followerUrls.map((url) => ({
    url,
    pool: new Pool(url, {
      connections: options.connectionsPerFollower ?? 64,
      pipelining: 1,
      keepAliveTimeout: 10_000,
      connectTimeout: replicationTimeoutMs,
      headersTimeout: replicationTimeoutMs,
      bodyTimeout: replicationTimeoutMs,
    }),
    sent: 0,
    acked: 0,
    failed: 0,
    pending: 0,
    ackedVersion: 0,
    ackLatencyUs: createLatencySummary(),
  }));

  // Counters and histograms cleared by POST /stats/reset.
  const counters = { ok: 0, failed: 0, rejected: 0, sent: 0, acked: 0, replFailed: 0, delayCount: 0, early: 0 };
  const acksAtResponse = new Array<number>(n + 1).fill(0);
  const targetUs = createLatencySummary();
  const realisedUs = createLatencySummary();
  const errorUs = createLatencySummary();
  const writeLatencyUs = createLatencySummary();

  function finish(w: PendingWrite, ok: boolean, reason?: 'timeout' | 'unreachable'): void {
    w.done = true;
    if (w.timer !== undefined) clearTimeout(w.timer);
    acksAtResponse[w.acks]!++;
    writeLatencyUs.record((performance.now() - w.startMs) * 1000);
    if (ok) {
      counters.ok++;
      sendJson(w.res, 200, { status: 'success', key: w.key, value: w.value, version: w.version, acks: w.acks, quorum: w.quorum });
    } else {
      counters.failed++;
      const message =
        reason === 'timeout'
          ? `only ${w.acks} of ${w.quorum} required acks within ${quorumTimeoutMs} ms`
          : `only ${w.acks} of ${w.quorum} required acks possible: ${w.failed} follower(s) failed`;
      sendError(w.res, 503, 'quorum_not_reached', message, {
        key: w.key,
        version: w.version,
        acks: w.acks,
        quorum: w.quorum,
        reason,
        applied: NOT_ROLLED_BACK,
      });
    }
  }

  function settle(link: FollowerLink): void {
    link.pending--;
    if (--replPending === 0 && idleWaiters.length > 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  function onAck(link: FollowerLink, w: PendingWrite, sentMs: number): void {
    link.acked++;
    counters.acked++;
    if (w.version > link.ackedVersion) link.ackedVersion = w.version;
    link.ackLatencyUs.record((performance.now() - sentMs) * 1000);
    settle(link);
    if (!w.done && ++w.acks >= w.quorum) finish(w, true);
  }

  function onFailure(link: FollowerLink, w: PendingWrite): void {
    // No retry yet: a failed replication is counted; catch-up of a lagging follower is future work.
    link.failed++;
    counters.replFailed++;
    settle(link);
    if (!w.done && ++w.failed > n - w.quorum) finish(w, false, 'unreachable');
  }

  function send(link: FollowerLink, w: PendingWrite, payload: string): void {
    link.sent++;
    counters.sent++;
    const sentMs = performance.now();
    link.pool.request({ path: '/replicate', method: 'POST', headers: REPLICATE_HEADERS, body: payload }).then(
      ({ statusCode, body }) => {
        if (statusCode === 200) onAck(link, w, sentMs);
        else onFailure(link, w);
        // Always drain so the keep-alive connection is reusable.
        body.dump().catch(() => {});
      },
      () => onFailure(link, w),
    );
  }

  function replicate(w: PendingWrite): void {
    const payload = JSON.stringify({ key: w.key, value: w.value, version: w.version });
    for (let i = 0; i < n; i++) {
      const link = links[i]!;
      const delayUs = minUs + rng.next() * spanUs;
      link.pending++;
      replPending++;
      scheduler.schedule(delayUs, (realised) => {
        counters.delayCount++;
        // 1 ns tolerance for float rounding of hrtime differences.
        if (realised + 1e-3 < delayUs) counters.early++;
        targetUs.record(delayUs);
        realisedUs.record(realised);
        errorUs.record(realised - delayUs);
        send(link, w, payload);
      });
    }
  }

  async function handleWrite(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startMs = performance.now();
    const body = await readJsonBody(req, limit);
    if (!isPlainObject(body)) throw new HttpError(400, 'invalid_body', 'body must be a JSON object {"key","value"}');
    const key = body.key;
    if (typeof key !== 'string' || key === '') throw new HttpError(400, 'invalid_key', '"key" must be a non-empty string');
    if (!('value' in body)) throw new HttpError(400, 'missing_value', '"value" is required (any JSON, null included)');
    const value = body.value;
    // Version and local apply in one synchronous step: no window where a follower could hold
    // a newer version than the leader.
    const v = ++version;
    store.apply(key, value, v);
    const w: PendingWrite = {
      res,
      key,
      value,
      version: v,
      quorum: writeQuorum,
      acks: 0,
      failed: 0,
      done: false,
      startMs,
      timer: undefined,
    };
    w.timer = setTimeout(() => {
      if (!w.done) finish(w, false, 'timeout');
    }, quorumTimeoutMs);
    replicate(w);
  }

  function statsJson() {
    return {
      role: 'leader',
      quorum: writeQuorum,
      version,
      writes: { ok: counters.ok, failed: counters.failed, rejected: counters.rejected },
      acksAtResponse: Object.fromEntries(acksAtResponse.map((c, i) => [String(i), c])),
      replication: { pending: replPending, sent: counters.sent, acked: counters.acked, failed: counters.replFailed },
      followers: links.map((l) => ({
        url: l.url,
        acked: l.acked,
        failed: l.failed,
        pending: l.pending,
        ackedVersion: l.ackedVersion,
        lagVersions: version - l.ackedVersion,
        ackLatencyUs: l.ackLatencyUs.toJSON(),
      })),
      delays: {
        strategy: ownsScheduler ? strategy : 'external',
        minDelayMs,
        maxDelayMs,
        seed: delaySeed ?? null,
        count: counters.delayCount,
        early: counters.early,
        targetUs: targetUs.toJSON(),
        realisedUs: realisedUs.toJSON(),
        errorUs: errorUs.toJSON(),
        realisedHdr: realisedUs.encode(),
      },
      writeLatencyUs: writeLatencyUs.toJSON(),
    };
  }

  function resetStats(): void {
    for (const k of Object.keys(counters) as Array<keyof typeof counters>) counters[k] = 0;
    acksAtResponse.fill(0);
    for (const s of [targetUs, realisedUs, errorUs, writeLatencyUs]) s.reset();
    for (const l of links) {
      l.sent = 0;
      l.acked = 0;
      l.failed = 0;
      l.ackLatencyUs.reset();
    }
  }

  const routes: RouteTable = {
    '/write': { POST: handleWrite },
    '/read': {
      GET: (_req, res, url) => {
        const key = readKeyParam(url.query);
        const e = store.get(key);
        if (e === undefined) sendError(res, 404, 'not_found', `no value for key ${JSON.stringify(key)}`, { key });
        else sendJson(res, 200, { key, value: e.value, version: e.version });
      },
    },
    '/data': { GET: (_req, res) => sendJson(res, 200, store.toJSON()) },
    '/health': {
      GET: (_req, res) => sendJson(res, 200, { status: 'ok', role: 'leader', quorum: writeQuorum, followers: followerUrls }),
    },
    '/stats': { GET: (_req, res) => sendJson(res, 200, statsJson()) },
    '/stats/reset': {
      POST: (_req, res) => {
        resetStats();
        sendJsonText(res, 200, '{"status":"ok"}');
      },
    },
    '/config': {
      GET: (_req, res) =>
        sendJson(res, 200, {
          quorum: writeQuorum,
          followers: followerUrls,
          minDelayMs,
          maxDelayMs,
          quorumTimeoutMs,
          replicationTimeoutMs,
          delaySeed: delaySeed ?? null,
          scheduler: ownsScheduler ? strategy : 'external',
        }),
      PUT: async (req, res) => {
        const body = await readJsonBody(req, limit);
        if (!isPlainObject(body)) throw new HttpError(400, 'invalid_body', 'body must be a JSON object {"writeQuorum": W}');
        try {
          writeQuorum = validateWriteQuorum(body.writeQuorum, n, 'writeQuorum');
        } catch (err) {
          if (err instanceof ConfigError) throw new HttpError(400, 'invalid_quorum', err.message);
          throw err;
        }
        sendJson(res, 200, { quorum: writeQuorum });
      },
    },
  };

  const dispatch = createDispatcher(routes, {
    onHttpError: (path) => {
      if (path === '/write') counters.rejected++;
    },
  });
  const server = createServerHandle(dispatch);
  let app: Express | undefined;

  function waitIdle(boundMs: number): Promise<void> {
    if (replPending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, boundMs);
      idleWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  let closing: Promise<void> | undefined;
  return {
    get app() {
      app ??= toExpressApp(dispatch);
      return app;
    },
    store,
    get writeQuorum() {
      return writeQuorum;
    },
    get pendingReplications() {
      return replPending;
    },
    listen: (port, host) => server.listen(port, host),
    close() {
      closing ??= (async () => {
        await server.closeServer(closeGraceMs);
        // Let background replication reach the followers before dropping it.
        await waitIdle(closeGraceMs);
        if (ownsScheduler) await scheduler.close();
        await Promise.all(
          links.map((l) =>
            Promise.race([l.pool.close().catch(() => {}), new Promise((r) => setTimeout(r, 200))]).then(() =>
              l.pool.destroy().catch(() => {}),
            ),
          ),
        );
      })();
      return closing;
    },
  };
}

