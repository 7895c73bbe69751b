/**
 * Minimal HTTP plumbing shared by the leader and the followers: a route table dispatcher,
 * JSON bodies with a size limit, and JSON error responses with stable codes.
 *
 * Why not Express middleware for the hot path: on this 2-core machine a trivial JSON POST route
 * measured 10.5–12k req/s through Express 5 versus 21–25k req/s on plain node:http (client in the
 * same process). Six nodes and the load generator share two cores, and CPU contention is what
 * spoils sub-millisecond delay fidelity, so the servers dispatch on node:http directly. The
 * same dispatcher is exposed as an Express app (`toExpressApp`) for embedding.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import http from 'node:http';
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { QuorumLabError } from '../contracts/errors.ts';

/** 1 MiB: the default request body limit, bytes. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
/**
 * 4 MiB: the default limit of leader → follower messages (/replicate, and each /snapshot chunk's
 * entries). Larger than the client limit because re-serialising a value can grow it (`9e20` is
 * sent as `900000000000000000000`); the leader refuses a write whose message would exceed it.
 */
export const DEFAULT_REPLICATION_BODY_LIMIT_BYTES = 4 * 1024 * 1024;
/** Header carrying a follower's boot id on replication answers: the leader spots a restart on the next ack. */
export const BOOT_ID_HEADER = 'x-boot-id';
/** Deepest nesting of objects/arrays accepted in a value (JSON.stringify overflows the stack near 5,000). */
export const MAX_VALUE_DEPTH = 200;

/** An error that maps to an HTTP response `{ error: code, message, ...extra }`. */
export class HttpError extends QuorumLabError {
  constructor(
    readonly status: number,
    /** The wire code of the JSON error body (e.g. invalid_key), part of the API contract. */
    code: string,
    message: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(code, message);
  }
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: ParsedUrl) => void | Promise<void>;

/** Path and raw query string of a request (the query is parsed only by routes that need it). */
export interface ParsedUrl {
  path: string;
  query: string;
}

/** path → method → handler. */
export type RouteTable = Record<string, Partial<Record<'GET' | 'POST' | 'PUT' | 'DELETE', Handler>>>;

export interface RouterHooks {
  /** Called for every error response produced by a thrown HttpError (for `rejected` counters). */
  onHttpError?: (path: string, err: HttpError) => void;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const;

/** Send a JSON body with an explicit content-length (no chunked encoding, no etag). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** Send a pre-serialised JSON text (the write path builds its reply without JSON.stringify). */
export function sendJsonText(
  res: ServerResponse,
  status: number,
  text: string,
  headers?: Record<string, string>,
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extra?: Record<string, unknown>,
  headers?: Record<string, string>,
): void {
  sendJson(res, status, { error: code, message, ...extra }, headers);
}

/**
 * Read and parse a JSON request body of at most `limitBytes`.
 * Throws HttpError 413 `payload_too_large` or 400 `invalid_json`.
 */
export function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) {
    // Do not read a body we will refuse; the connection is closed after the response.
    req.resume();
    return Promise.reject(tooLarge(limitBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let overflow = false;
    req.on('data', (chunk: Buffer) => {
      if (overflow) return;
      size += chunk.length;
      if (size > limitBytes) {
        overflow = true;
        chunks.length = 0;
        reject(tooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (overflow) return;
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      // toString would silently turn bad bytes into U+FFFD and store a key nobody sent.
      if (!isUtf8(buf)) {
        reject(new HttpError(400, 'invalid_json', 'request body is not valid UTF-8'));
        return;
      }
      const text = buf.toString('utf8');
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new HttpError(400, 'invalid_json', `request body is not valid JSON: ${(err as Error).message}`));
      }
    });
    req.on('error', (err) =>
      reject(new HttpError(400, 'bad_request', `request body could not be read: ${err.message}`)),
    );
  });
}

function tooLarge(limitBytes: number): HttpError {
  return new HttpError(413, 'payload_too_large', `request body exceeds ${limitBytes} bytes`, { limitBytes });
}

/**
 * Whether a parsed JSON value nests objects/arrays deeper than `maxDepth` (a scalar has depth 0).
 * Stops at the limit, so hostile nesting costs at most `maxDepth` frames.
 */
export function exceedsDepth(value: unknown, maxDepth: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (maxDepth <= 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (exceedsDepth(value[i], maxDepth - 1)) return true;
    return false;
  }
  for (const k in value) if (exceedsDepth((value as Record<string, unknown>)[k], maxDepth - 1)) return true;
  return false;
}

/** Throw 400 invalid_value when a value nests deeper than MAX_VALUE_DEPTH (it could not be re-serialised safely). */
export function assertValueDepth(value: unknown): void {
  if (exceedsDepth(value, MAX_VALUE_DEPTH)) {
    throw new HttpError(400, 'invalid_value', `"value" nests objects/arrays deeper than ${MAX_VALUE_DEPTH} levels`);
  }
}

/** A plain JSON object (not null, not an array). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Characters that make URLSearchParams split or decode a query. */
const PARAM_SPECIALS = /[&%+]/;

/**
 * The one `key` query parameter of a /read request. Missing, empty or repeated → 400 invalid_key.
 */
export function readKeyParam(query: string): string {
  // Hot path of every read: `key=<plain>` (one parameter, nothing to decode) is what URLSearchParams
  // would return unchanged, without building one.
  if (query.length > 4 && query.startsWith('key=') && !PARAM_SPECIALS.test(query)) return query.slice(4);
  const values = new URLSearchParams(query).getAll('key');
  if (values.length !== 1 || values[0] === '') {
    throw new HttpError(400, 'invalid_key', 'query parameter "key" is required exactly once and must be non-empty');
  }
  return values[0]!;
}

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;
/** Turns a route table into the request listener of a node's server (node:http dispatch or Express). */
export type RouteListenerFactory = (routes: RouteTable, hooks?: RouterHooks) => RequestListener;

/** Path and raw query of a request URL. */
export function parseRequestUrl(rawUrl: string): ParsedUrl {
  const q = rawUrl.indexOf('?');
  return q === -1 ? { path: rawUrl, query: '' } : { path: rawUrl.slice(0, q), query: rawUrl.slice(q + 1) };
}

/** The Allow header value of each path (HEAD wherever GET is). */
export function allowedMethods(routes: RouteTable): Map<string, string> {
  const allow = new Map<string, string>();
  for (const [path, methods] of Object.entries(routes)) {
    const names = Object.keys(methods);
    if (names.includes('GET')) names.push('HEAD');
    allow.set(path, names.join(', '));
  }
  return allow;
}

/** Answer a route's failure with the JSON error contract (HttpError → its status and code, anything else → 500). */
export function createErrorResponder(
  hooks: RouterHooks = {},
): (res: ServerResponse, path: string, err: unknown) => void {
  return (res, path, err) => {
    if (err instanceof HttpError) {
      hooks.onHttpError?.(path, err);
      // After a refused oversized body, do not keep reading it for keep-alive.
      const headers: Record<string, string> | undefined =
        err.status === 413
          ? { connection: 'close' }
          : err.status === 401
            ? { 'www-authenticate': 'Bearer' }
            : undefined;
      sendError(res, err.status, err.code, err.message, err.extra, headers);
    } else {
      sendError(res, 500, 'internal_error', err instanceof Error ? err.message : String(err));
    }
  };
}

/** Run a handler; a throw or a rejection becomes the JSON error answer. */
export function runHandler(
  handler: Handler,
  req: IncomingMessage,
  res: ServerResponse,
  url: ParsedUrl,
  fail: ReturnType<typeof createErrorResponder>,
): void {
  try {
    const out = handler(req, res, url);
    if (out) out.catch((err) => fail(res, url.path, err));
  } catch (err) {
    fail(res, url.path, err);
  }
}

/** Build a request listener from a route table; unknown path → 404 unknown_route, wrong method → 405. */
export function createDispatcher(routes: RouteTable, hooks: RouterHooks = {}): RequestListener {
  const allow = allowedMethods(routes);
  const fail = createErrorResponder(hooks);
  // Maps, not the route objects: lookups by path and method run on every request, and a Map.get is
  // cheaper than a megamorphic keyed load on a dictionary-mode object.
  const table = new Map(Object.entries(routes).map(([path, methods]) => [path, new Map(Object.entries(methods))]));
  return (req, res) => {
    const url = parseRequestUrl(req.url ?? '/');
    const methods = table.get(url.path);
    if (!methods) {
      sendError(res, 404, 'unknown_route', `no route ${url.path}`);
      return;
    }
    const handler = methods.get(req.method === 'HEAD' ? 'GET' : (req.method ?? ''));
    if (!handler) {
      sendError(
        res,
        405,
        'method_not_allowed',
        `${req.method} is not allowed on ${url.path}`,
        { allow: allow.get(url.path) },
        { allow: allow.get(url.path)! },
      );
      return;
    }
    runHandler(handler, req, res, url, fail);
  };
}

/**
 * The same dispatcher mounted as the only middleware of an Express 5 app (no etag, no
 * x-powered-by). Express is loaded on first use: node processes never need it, and loading it
 * costs ~70 ms of start-up CPU in each of the six processes of a cluster.
 */
export function toExpressApp(dispatch: RequestListener): Express {
  const express = createRequire(import.meta.url)('express') as typeof import('express');
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((req, res) => dispatch(req, res));
  return app;
}

const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'headers_too_large', 'request headers are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout', 'request not received in time'],
};

/**
 * Malformed HTTP (bad request line, bad content-length, oversized headers) never reaches a route:
 * answer it with the same JSON error shape instead of node's bare 400, then close.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'bad_request', 'malformed HTTP request'];
  const text = JSON.stringify({ error: code, message });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

export interface ServerHandle {
  listen(port?: number, host?: string): Promise<{ port: number; url: string }>;
  /** Stop accepting, let in-flight requests finish (at most `graceMs`), then drop connections. */
  closeServer(graceMs: number): Promise<void>;
}

/** The URL a client on this machine reaches a server at that listens on host:port (a wildcard host means loopback). */
export function baseUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/** Wrap a request listener in a node:http server with keep-alive settings suitable for the load. */
export function createServerHandle(listener: RequestListener): ServerHandle {
  const server = http.createServer({ keepAliveTimeout: 10_000 }, listener);
  // Slightly longer than keepAliveTimeout so the server never drops a socket the client reuses.
  server.headersTimeout = 15_000;
  server.on('clientError', answerClientError);
  let listening = false;
  return {
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          listening = true;
          const addr = server.address() as AddressInfo;
          resolve({ port: addr.port, url: baseUrl(host, addr.port) });
        });
      });
    },
    closeServer(graceMs) {
      if (!listening) return Promise.resolve();
      listening = false;
      return new Promise((resolve) => {
        // Idle keep-alive sockets are closed now and again as in-flight requests finish.
        const sweep = setInterval(() => server.closeIdleConnections(), 20);
        const hard = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(hard);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
