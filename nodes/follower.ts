/**
 * A follower: read-only replica that applies `POST /replicate` messages only when they carry a
 * newer version for their key, and acknowledges every well-formed message.
 */
import type { Express } from 'express';
import { parseNodeUrl } from './config.ts';
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
import { VersionedStore } from './store.ts';

export interface FollowerOptions {
  /** Leader base URL, reported in 403 read_only answers. Optional. */
  leaderUrl?: string;
  /** Largest accepted request body, bytes. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** How long close() lets in-flight requests finish before dropping connections, ms. Default 2000. */
  closeGraceMs?: number;
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
}

const ACK_APPLIED = JSON.stringify({ status: 'success', applied: true });
const ACK_IGNORED = JSON.stringify({ status: 'success', applied: false });

/** Validate a `/replicate` body: `{ key: non-empty string, value: any JSON, version: positive integer }`. */
export function parseReplicateBody(body: unknown): { key: string; value: unknown; version: number } {
  if (!isPlainObject(body)) throw new HttpError(400, 'invalid_body', 'body must be a JSON object {"key","value","version"}');
  const { key, version } = body;
  if (typeof key !== 'string' || key === '') throw new HttpError(400, 'invalid_key', '"key" must be a non-empty string');
  if (!('value' in body)) throw new HttpError(400, 'missing_value', '"value" is required (any JSON, null included)');
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new HttpError(400, 'invalid_version', '"version" must be a positive integer');
  }
  return { key, value: body.value, version };
}

export function createFollower(options: FollowerOptions = {}): FollowerServer {
  const leaderUrl = options.leaderUrl === undefined ? undefined : parseNodeUrl(options.leaderUrl, 'leaderUrl');
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const store = new VersionedStore();
  let applied = 0;
  let ignored = 0;

  const routes: RouteTable = {
    '/replicate': {
      POST: async (req, res) => {
        const { key, value, version } = parseReplicateBody(await readJsonBody(req, limit));
        if (store.apply(key, value, version)) {
          applied++;
          sendJsonText(res, 200, ACK_APPLIED);
        } else {
          ignored++;
          sendJsonText(res, 200, ACK_IGNORED);
        }
      },
    },
    '/write': {
      POST: (_req, res) => {
        sendError(res, 403, 'read_only', 'writes go to the leader', leaderUrl ? { leader: leaderUrl } : undefined);
      },
    },
    '/read': {
      GET: (_req, res, url) => {
        const key = readKeyParam(url.query);
        const e = store.get(key);
        if (e === undefined) sendError(res, 404, 'not_found', `no value for key ${JSON.stringify(key)}`, { key });
        else sendJson(res, 200, { key, value: e.value, version: e.version });
      },
    },
    '/data': { GET: (_req, res) => sendJson(res, 200, store.toJSON()) },
    '/health': { GET: (_req, res) => sendJson(res, 200, { status: 'ok', role: 'follower' }) },
    '/stats': {
      GET: (_req, res) =>
        sendJson(res, 200, { role: 'follower', applied, ignored, keys: store.size, maxVersion: store.maxVersion }),
    },
    '/stats/reset': {
      POST: (_req, res) => {
        applied = 0;
        ignored = 0;
        sendJson(res, 200, { status: 'ok' });
      },
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
    listen: (port, host) => server.listen(port, host),
    close: () => server.closeServer(options.closeGraceMs ?? 2000),
  };
}
