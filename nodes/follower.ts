/**
 * A follower: read-only replica that applies `POST /replicate` messages only when they carry a
 * newer version for their key, and acknowledges every well-formed message.
 */
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import { createTokenCheck, guarded } from './auth.ts';
import { parseNodeUrl } from './config.ts';
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
import { VersionedStore } from './store.ts';
import { DEFAULT_TRACE_CAPACITY, monotonicUs, type FollowerApplyTrace, type TraceDump } from '../contracts/trace.ts';
import { TraceRing, isTraced, servedAtHeaders } from './trace-ring.ts';

export interface FollowerOptions {
  /** Leader base URL, reported in 403 read_only answers. Optional. */
  leaderUrl?: string;
  /** Largest accepted request body on client endpoints, bytes. Default 1 MiB. */
  bodyLimitBytes?: number;
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
  /** Traced applies (issue 9); the /replicate/batch route records into it with recordApply(). */
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

const ACK_APPLIED = JSON.stringify({ status: 'success', applied: true });
const ACK_IGNORED = JSON.stringify({ status: 'success', applied: false });
/** Framing a /snapshot chunk may add on top of its entries. */
const SNAPSHOT_FRAMING_BYTES = 1024;

/** Validate a `/replicate` body: `{ key: non-empty string, value: any JSON, version: positive integer }`. */
export function parseReplicateBody(body: unknown): { key: string; value: unknown; version: number } {
  if (!isPlainObject(body)) throw new HttpError(400, 'invalid_body', 'body must be a JSON object {"key","value","version"}');
  const { key, version } = body;
  if (typeof key !== 'string' || key === '') throw new HttpError(400, 'invalid_key', '"key" must be a non-empty string');
  if (!('value' in body)) throw new HttpError(400, 'missing_value', '"value" is required (any JSON, null included)');
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new HttpError(400, 'invalid_version', '"version" must be a positive integer');
  }
  assertValueDepth(body.value);
  return { key, value: body.value, version };
}

/** Validate a `/snapshot` body: `{ entries: [{key, value, version}, ...] }`; the first bad entry names its index. */
export function parseSnapshotBody(body: unknown): Array<{ key: string; value: unknown; version: number }> {
  if (!isPlainObject(body) || !Array.isArray(body.entries)) {
    throw new HttpError(400, 'invalid_body', 'body must be a JSON object {"entries": [{"key","value","version"}, ...]}');
  }
  return body.entries.map((e, i) => {
    try {
      return parseReplicateBody(e);
    } catch (err) {
      if (err instanceof HttpError) throw new HttpError(err.status, err.code, `entries[${i}]: ${err.message}`, { index: i });
      throw err;
    }
  });
}

export function createFollower(options: FollowerOptions = {}): FollowerServer {
  const leaderUrl = options.leaderUrl === undefined ? undefined : parseNodeUrl(options.leaderUrl, 'leaderUrl');
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const replLimit = options.replicationBodyLimitBytes ?? DEFAULT_REPLICATION_BODY_LIMIT_BYTES;
  const bootId = options.bootId ?? randomUUID();
  const bootHeader = { [BOOT_ID_HEADER]: bootId };
  const check = createTokenCheck(options.replicationToken);
  const store = new VersionedStore();
  let applied = 0;
  let ignored = 0;
  let snapshots = 0;
  const traces = new TraceRing<FollowerApplyTrace>(options.traceCapacity ?? DEFAULT_TRACE_CAPACITY);

  const routes: RouteTable = {
    '/replicate': {
      POST: guarded(check, async (req, res) => {
        const receivedUs = isTraced(req) ? monotonicUs() : 0;
        const { key, value, version } = parseReplicateBody(await readJsonBody(req, replLimit));
        const isNewer = store.apply(key, value, version);
        if (receivedUs !== 0) recordApply(traces, { key, version }, receivedUs, isNewer);
        if (isNewer) {
          applied++;
          sendJsonText(res, 200, ACK_APPLIED, bootHeader);
        } else {
          ignored++;
          sendJsonText(res, 200, ACK_IGNORED, bootHeader);
        }
      }),
    },
    // Catch-up after a restart or an outage: many entries at once, each under the same
    // newer-version rule as /replicate, so live messages racing with a snapshot cannot be undone.
    '/snapshot': {
      POST: guarded(check, async (req, res) => {
        const entries = parseSnapshotBody(await readJsonBody(req, replLimit + SNAPSHOT_FRAMING_BYTES));
        let n = 0;
        for (const e of entries) if (store.apply(e.key, e.value, e.version)) n++;
        applied += n;
        ignored += entries.length - n;
        snapshots++;
        sendJson(res, 200, { status: 'success', applied: n, ignored: entries.length - n }, bootHeader);
      }),
    },
    '/write': {
      POST: (_req, res) => {
        sendError(res, 403, 'read_only', 'writes go to the leader', leaderUrl ? { leader: leaderUrl } : undefined);
      },
    },
    '/read': {
      GET: (req, res, url) => {
        const key = readKeyParam(url.query);
        const e = store.get(key);
        const served = servedAtHeaders(req);
        if (e === undefined) sendError(res, 404, 'not_found', `no value for key ${JSON.stringify(key)}`, { key }, served);
        else sendJson(res, 200, { key, value: e.value, version: e.version }, served);
      },
    },
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
    '/data': { GET: (_req, res) => sendJson(res, 200, store.toJSON()) },
    '/health': { GET: (_req, res) => sendJson(res, 200, { status: 'ok', role: 'follower', bootId }) },
    '/stats': {
      GET: (_req, res) =>
        sendJson(res, 200, { role: 'follower', applied, ignored, keys: store.size, maxVersion: store.maxVersion, snapshots, bootId }),
    },
    '/stats/reset': {
      POST: guarded(check, (_req, res) => {
        applied = 0;
        ignored = 0;
        snapshots = 0;
        traces.clear();
        sendJson(res, 200, { status: 'ok' });
      }),
    },
  };

  const dispatch = createDispatcher(routes);
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
