/**
 * The leader: assigns versions, applies writes locally, replicates every write to every follower
 * after an injected delay, and answers the client once W followers acknowledged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';
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
import { createTokenCheck, guarded } from './auth.ts';
import type { NodeServer } from './follower.ts';
import { FollowerLink, startProbing, type FollowerState } from './follower-link.ts';
import {
  BOOT_ID_HEADER,
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_REPLICATION_BODY_LIMIT_BYTES,
  HttpError,
  assertValueDepth,
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
import { servedAtHeaders } from './trace-ring.ts';

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
}

/** One client write waiting for its quorum. */
interface PendingWrite {
  res: ServerResponse;
  /** JSON texts of the key and the value, reused for the replication message and the answer. */
  keyJson: string;
  valueJson: string;
  version: number;
  quorum: number;
  acks: number;
  failed: number;
  done: boolean;
  startMs: number;
  timer: NodeJS.Timeout | undefined;
}

const NOT_ROLLED_BACK = 'leader and acked followers; not rolled back';
const NOT_APPLIED = 'nothing: no version assigned, not applied anywhere';

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
  const replLimit = options.replicationBodyLimitBytes ?? DEFAULT_REPLICATION_BODY_LIMIT_BYTES;
  const closeGraceMs = options.closeGraceMs ?? 2000;
  const maxPending = options.maxPendingPerFollower ?? 4096;
  const check = createTokenCheck(options.replicationToken);
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

  // Followers not down (up or catching up): they receive live writes and their acks count.
  let available = n;
  let up = n;
  const source = {
    entries: () => store.entries(),
    get size() {
      return store.size;
    },
    get version() {
      return version;
    },
  };
  const onStateChange = (_l: FollowerLink, from: FollowerState, to: FollowerState) => {
    if (from === 'down') available++;
    if (to === 'down') available--;
    if (from === 'up') up--;
    if (to === 'up') up++;
  };
  const links: FollowerLink[] = followerUrls.map(
    (url) =>
      new FollowerLink({
        url,
        replicationTimeoutMs,
        connections: options.connectionsPerFollower ?? 64,
        token: options.replicationToken,
        probeTimeoutMs: options.probeTimeoutMs ?? Math.min(1000, replicationTimeoutMs),
        snapshotChunkBytes: options.snapshotChunkBytes ?? 256 * 1024,
        source,
        onStateChange,
      }),
  );
  const ackLatencyUs: LatencySummary[] = links.map(() => createLatencySummary());
  const stopProbing = startProbing(links, options.probeIntervalMs ?? 250, options.idleProbeMs ?? 1000);

  // Counters and histograms cleared by POST /stats/reset.
  const counters = { ok: 0, failed: 0, rejected: 0, unavailable: 0, sent: 0, acked: 0, replFailed: 0, skipped: 0, delayCount: 0, early: 0 };
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
      // Built from the texts already serialised for replication: no second JSON.stringify of the value.
      sendJsonText(
        w.res,
        200,
        `{"status":"success","key":${w.keyJson},"value":${w.valueJson},"version":${w.version},"acks":${w.acks},"quorum":${w.quorum}}`,
      );
    } else {
      counters.failed++;
      const message =
        reason === 'timeout'
          ? `only ${w.acks} of ${w.quorum} required acks within ${quorumTimeoutMs} ms`
          : `only ${w.acks} of ${w.quorum} required acks possible: ${w.failed} follower(s) failed`;
      sendError(w.res, 503, 'quorum_not_reached', message, {
        key: JSON.parse(w.keyJson) as string,
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

  function onAck(i: number, w: PendingWrite, sentMs: number, bootHeader: string | string[] | undefined): void {
    const link = links[i]!;
    const now = performance.now();
    link.acked++;
    counters.acked++;
    if (w.version > link.ackedVersion) link.ackedVersion = w.version;
    ackLatencyUs[i]!.record((now - sentMs) * 1000);
    link.noteAck(now, bootHeader);
    settle(link);
    if (!w.done && ++w.acks >= w.quorum) finish(w, true);
  }

  /** A replication that did not reach the follower: never retried, the catch-up snapshot covers it. */
  function countFailure(link: FollowerLink, w: PendingWrite): void {
    link.failed++;
    counters.replFailed++;
    if (!w.done && ++w.failed > n - w.quorum) finish(w, false, 'unreachable');
  }

  function onFailure(link: FollowerLink, w: PendingWrite, generation: number, reason: string): void {
    link.replicationFailed(generation, reason);
    settle(link);
    countFailure(link, w);
  }

  function skip(link: FollowerLink, w: PendingWrite): void {
    link.skipped++;
    counters.skipped++;
    countFailure(link, w);
  }

  function send(i: number, w: PendingWrite, payload: string): void {
    const link = links[i]!;
    link.sent++;
    counters.sent++;
    const sentMs = performance.now();
    const generation = link.generation;
    link.pool.request({ path: '/replicate', method: 'POST', headers: link.replicateHeaders, body: payload }).then(
      ({ statusCode, headers, body }) => {
        if (statusCode === 200) onAck(i, w, sentMs, headers[BOOT_ID_HEADER]);
        else onFailure(link, w, generation, `/replicate answered ${statusCode}`);
        // Always drain so the keep-alive connection is reusable.
        body.dump().catch(() => {});
      },
      (err: Error) => onFailure(link, w, generation, (err as { code?: string }).code ?? err.message),
    );
  }

  function replicate(w: PendingWrite, payload: string): void {
    for (let i = 0; i < n; i++) {
      const link = links[i]!;
      // Drawn for every follower, down or not, so one follower's outage does not shift the others' delays.
      const delayUs = minUs + rng.next() * spanUs;
      if (link.state === 'down') {
        skip(link, w);
        continue;
      }
      if (link.pending >= maxPending) {
        // A paused or very slow follower: stop queueing for it; the catch-up covers the rest.
        link.markDown(`backlog of ${link.pending} pending replications`);
        skip(link, w);
        continue;
      }
      link.pending++;
      replPending++;
      scheduler.schedule(delayUs, (realised) => {
        counters.delayCount++;
        // 1 ns tolerance for float rounding of hrtime differences.
        if (realised + 1e-3 < delayUs) counters.early++;
        targetUs.record(delayUs);
        realisedUs.record(realised);
        errorUs.record(realised - delayUs);
        if (link.state === 'down') {
          settle(link);
          skip(link, w);
        } else send(i, w, payload);
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
    assertValueDepth(value);
    const keyJson = JSON.stringify(key);
    const valueJson = JSON.stringify(value);
    // UTF-8 is at most 3 bytes per UTF-16 unit: measure only when it could matter.
    const approx = keyJson.length + valueJson.length + 48;
    if (approx * 3 > replLimit && Buffer.byteLength(keyJson) + Buffer.byteLength(valueJson) + 48 > replLimit) {
      throw new HttpError(413, 'payload_too_large', `the replication message would exceed ${replLimit} bytes`, { limitBytes: replLimit });
    }
    if (available < writeQuorum) {
      // Fail fast, before a version is used: the outcome is known (not written), unlike a timeout.
      counters.failed++;
      counters.unavailable++;
      acksAtResponse[0]!++;
      writeLatencyUs.record((performance.now() - startMs) * 1000);
      sendError(res, 503, 'quorum_not_reached', `only ${available} of ${n} followers are up or catching up; W=${writeQuorum}`, {
        key,
        acks: 0,
        quorum: writeQuorum,
        up,
        available,
        reason: 'insufficient_followers',
        applied: NOT_APPLIED,
      });
      return;
    }
    // Version and local apply in one synchronous step: no window where a follower could hold
    // a newer version than the leader.
    const v = ++version;
    store.apply(key, value, v);
    const w: PendingWrite = {
      res,
      keyJson,
      valueJson,
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
    replicate(w, `{"key":${keyJson},"value":${valueJson},"version":${v}}`);
  }

  function statsJson() {
    return {
      role: 'leader',
      quorum: writeQuorum,
      version,
      writes: { ok: counters.ok, failed: counters.failed, rejected: counters.rejected, unavailable: counters.unavailable },
      acksAtResponse: Object.fromEntries(acksAtResponse.map((c, i) => [String(i), c])),
      replication: {
        // A running catch-up counts as pending: quiescent means nothing left to deliver.
        pending: replPending + links.filter((l) => l.catchingUp).length,
        sent: counters.sent,
        acked: counters.acked,
        failed: counters.replFailed,
        skipped: counters.skipped,
      },
      availability: stateCounts(),
      followers: links.map((l, i) => ({ ...l.statsJson(version), ackLatencyUs: ackLatencyUs[i]!.toJSON() })),
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

  function stateCounts() {
    const c = { up: 0, catching_up: 0, down: 0 };
    for (const l of links) c[l.state]++;
    return { ...c, quorum: writeQuorum, writable: available >= writeQuorum };
  }

  function resetStats(): void {
    for (const k of Object.keys(counters) as Array<keyof typeof counters>) counters[k] = 0;
    acksAtResponse.fill(0);
    for (const s of [targetUs, realisedUs, errorUs, writeLatencyUs, ...ackLatencyUs]) s.reset();
    for (const l of links) l.resetCounters();
  }

  const routes: RouteTable = {
    '/write': { POST: handleWrite },
    '/read': {
      GET: (req, res, url) => {
        const key = readKeyParam(url.query);
        const e = store.get(key);
        const served = servedAtHeaders(req);
        if (e === undefined) sendError(res, 404, 'not_found', `no value for key ${JSON.stringify(key)}`, { key }, served);
        else sendJson(res, 200, { key, value: e.value, version: e.version }, served);
      },
    },
    '/data': { GET: (_req, res) => sendJson(res, 200, store.toJSON()) },
    '/health': {
      GET: (_req, res) =>
        sendJson(res, 200, {
          status: 'ok',
          role: 'leader',
          quorum: writeQuorum,
          followers: followerUrls,
          followerStates: links.map((l) => l.state),
          up,
          available,
        }),
    },
    '/stats': { GET: (_req, res) => sendJson(res, 200, statsJson()) },
    '/stats/reset': {
      POST: guarded(check, (_req, res) => {
        resetStats();
        sendJsonText(res, 200, '{"status":"ok"}');
      }),
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
      PUT: guarded(check, async (req, res) => {
        const body = await readJsonBody(req, limit);
        if (!isPlainObject(body)) throw new HttpError(400, 'invalid_body', 'body must be a JSON object {"writeQuorum": W}');
        try {
          writeQuorum = validateWriteQuorum(body.writeQuorum, n, 'writeQuorum');
        } catch (err) {
          if (err instanceof ConfigError) throw new HttpError(400, 'invalid_quorum', err.message);
          throw err;
        }
        sendJson(res, 200, { quorum: writeQuorum });
      }),
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
        stopProbing();
        await server.closeServer(closeGraceMs);
        // Let background replication reach the followers before dropping it.
        await waitIdle(closeGraceMs);
        if (ownsScheduler) await scheduler.close();
        await Promise.all(links.map((l) => l.close(200)));
      })();
      return closing;
    },
  };
}

