/**
 * A follower: read-only replica that applies replication messages (`POST /replicate`, `/replicate/batch`,
 * `/snapshot`: nodes/replication/follower-apply.ts) only when they carry a newer version for their
 * key, and acknowledges every well-formed message.
 */
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import { adminResetRoutes } from './admin-reset.ts';
import { createTokenCheck, guarded } from './auth.ts';
import { parseNodeUrl } from './config.ts';
import {
  DEFAULT_REPLICATION_BODY_LIMIT_BYTES,
  createDispatcher,
  createServerHandle,
  type RouteListenerFactory,
  sendError,
  sendJson,
  toExpressApp,
  type RouteTable,
} from './http-util.ts';
import { VersionedStore } from './store.ts';
import { storeRoutes } from './store-routes.ts';
import { createReplicateRoutes, type ApplyCounters } from './replication/follower-apply.ts';
import { DEFAULT_TRACE_CAPACITY, monotonicUs, type FollowerApplyTrace, type TraceDump } from '../contracts/trace.ts';
import { TraceRing } from './trace-ring.ts';

export interface FollowerOptions {
  /** Leader base URL, reported in 403 read_only answers. Optional. */
  leaderUrl?: string;
  /** Largest /replicate body, bytes (a /snapshot chunk may add 1 KiB of framing). Default 4 MiB. */
  replicationBodyLimitBytes?: number;
  /** How long close() lets in-flight requests finish before dropping connections, ms. Default 2000. */
  closeGraceMs?: number;
  /** When set, /replicate, /snapshot and POST /stats/reset need `Authorization: Bearer <token>` (else 401). */
  replicationToken?: string;
  /** Identity of this run of the follower (default: a random UUID); a new one after every restart. */
  bootId?: string;
  /** Traced replication entries kept for `GET /trace` (newest win). Default DEFAULT_TRACE_CAPACITY. */
  traceCapacity?: number;
  /** Builds the server's request listener from the routes: node:http dispatch (default) or nodes/express-app.ts. */
  createListener?: RouteListenerFactory;
}

export interface NodeServer {
  /** Express 5 app serving the same routes (for embedding); listen() serves on node:http directly. */
  app: Express;
  /** Listen on `port` (default 0 = ephemeral) and `host` (default 127.0.0.1). */
  listen(port?: number, host?: string): Promise<{ port: number; url: string }>;
  /** Stop accepting, finish in-flight requests, release resources. */
  close(): Promise<void>;
}

export interface FollowerServer extends NodeServer {
  readonly store: VersionedStore;
  /** Sent as `bootId` in /health and as the `x-boot-id` header of /replicate and /snapshot answers. */
  readonly bootId: string;
  /** Traced applies (issue 9); the replicate routes record every entry that asks for a trace. */
  readonly traces: TraceRing<FollowerApplyTrace>;
}

/** Record one traced replication entry: arrival (the request's, for a batch) and apply time. */
export function recordApply(
  ring: TraceRing<FollowerApplyTrace>,
  entry: { key: string; version: number },
  receivedUs: number,
  applied: boolean,
): void {
  ring.push({ version: entry.version, key: entry.key, receivedUs, appliedUs: monotonicUs(), applied });
}

// Kept importable from here for existing callers.
export { parseReplicateBody, parseEntries as parseSnapshotBody } from './replication/follower-apply.ts';

export function createFollower(options: FollowerOptions = {}): FollowerServer {
  const leaderUrl = options.leaderUrl === undefined ? undefined : parseNodeUrl(options.leaderUrl, 'leaderUrl');
  const replLimit = options.replicationBodyLimitBytes ?? DEFAULT_REPLICATION_BODY_LIMIT_BYTES;
  const bootId = options.bootId ?? randomUUID();
  const check = createTokenCheck(options.replicationToken);
  const store = new VersionedStore();
  const counters: ApplyCounters = { applied: 0, ignored: 0, snapshots: 0, batches: 0 };
  const traces = new TraceRing<FollowerApplyTrace>(options.traceCapacity ?? DEFAULT_TRACE_CAPACITY);

  const routes: RouteTable = {
    ...adminResetRoutes(check, store),
    ...createReplicateRoutes({
      store,
      counters,
      check,
      replLimitBytes: replLimit,
      bootId,
      onTrace: (key, version, receivedUs, appliedUs, applied) =>
        traces.push({ version, key, receivedUs, appliedUs, applied }),
    }),
    '/write': {
      POST: (_req, res) => {
        sendError(res, 403, 'read_only', 'writes go to the leader', leaderUrl ? { leader: leaderUrl } : undefined);
      },
    },
    ...storeRoutes(store),
    '/trace': {
      GET: (_req, res) => {
        const dump: TraceDump = {
          role: 'follower',
          bootId,
          nowUs: monotonicUs(),
          capacity: traces.capacity,
          dropped: traces.dropped,
          applies: traces.snapshot(),
        };
        sendJson(res, 200, dump);
      },
    },
    '/health': { GET: (_req, res) => sendJson(res, 200, { status: 'ok', role: 'follower', bootId }) },
    '/stats': {
      GET: (_req, res) =>
        sendJson(res, 200, { role: 'follower', ...counters, keys: store.size, maxVersion: store.maxVersion, bootId }),
    },
    '/stats/reset': {
      POST: guarded(check, (_req, res) => {
        for (const k of Object.keys(counters) as Array<keyof ApplyCounters>) counters[k] = 0;
        traces.clear();
        sendJson(res, 200, { status: 'ok' });
      }),
    },
  };

  const dispatch = (options.createListener ?? createDispatcher)(routes);
  const server = createServerHandle(dispatch);
  let app: Express | undefined;
  return {
    get app() {
      app ??= toExpressApp(dispatch);
      return app;
    },
    store,
    bootId,
    traces,
    listen: (port, host) => server.listen(port, host),
    close: () => server.closeServer(options.closeGraceMs ?? 2000),
  };
}
