/**
 * The client's HTTP calls against the node API (docs/contracts.md), with explicit timeouts, through
 * the dispatch()-based engine of fast-client.ts. They take any undici Dispatcher: the harness's
 * clients pass one Client (keep-alive connection) per logical client and node; createPool remains
 * for callers that overlap requests. Every response body is read to its end before a call returns,
 * so keep-alive sockets are free for the next request.
 */
import { Pool, type Dispatcher } from 'undici';
import { fastRequest, type FastReply } from './fast-client.ts';

export const ERROR_KINDS = ['quorum', 'http', 'timeout', 'connection'] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

/** Failed writes by kind. */
export type ErrorCounts = Record<ErrorKind, number>;

export function zeroErrorCounts(): ErrorCounts {
  return Object.fromEntries(ERROR_KINDS.map((k) => [k, 0])) as ErrorCounts;
}

/** Adds `more` into `into`, kind by kind. */
export function addErrorCounts(into: ErrorCounts, more: ErrorCounts): void {
  for (const k of ERROR_KINDS) into[k] += more[k];
}

export interface PoolOptions {
  connections: number;
  timeoutMs: number;
}

export function createPool(origin: string, options: PoolOptions): Pool {
  return new Pool(origin, {
    connections: options.connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connectTimeout: Math.min(options.timeoutMs, 10_000),
  });
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);

/** Sort a thrown request error into timeout vs connection failure. */
export function classifyThrown(err: unknown): ErrorKind {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TIMEOUT_CODES.has(code) ? 'timeout' : 'connection';
}

/**
 * `unknown`: the write may or may not have been applied (a 503 after a version was assigned, a
 * timeout, a lost connection, another 5xx). A fail-fast 503 `insufficient_followers` and 4xx
 * answers are known not to have been applied.
 */
export type WriteOutcome =
  | { ok: true; version: number | null }
  | { ok: false; kind: ErrorKind; status?: number; unknown: boolean };

/**
 * POST /write to the leader. A 503 quorum_not_reached is its own error kind. Any 2xx is an
 * acknowledgement; `version` is null when the cluster does not report one (the seed's
 * `{"status": "success"}`): the caller then tells versions apart by value (value-versions.ts).
 */
export async function postWrite(
  dispatcher: Dispatcher,
  key: string,
  value: string,
  timeoutMs: number,
  headers?: Record<string, string>,
): Promise<WriteOutcome> {
  let res: FastReply;
  try {
    res = await fastRequest(dispatcher, {
      method: 'POST',
      path: '/write',
      jsonBody: JSON.stringify({ key, value }),
      timeoutMs,
      headers,
    });
  } catch (err) {
    // A refused connection never carried the request; anything later might have.
    return {
      ok: false,
      kind: classifyThrown(err),
      unknown: (err as { code?: unknown } | null)?.code !== 'ECONNREFUSED',
    };
  }
  const text = res.text;
  if (res.status >= 200 && res.status < 300) {
    let version: unknown;
    try {
      version = (JSON.parse(text) as { version?: unknown } | null)?.version;
    } catch {
      version = undefined;
    }
    return { ok: true, version: typeof version === 'number' ? version : null };
  }
  if (res.status === 503) {
    type QuorumError = { error?: unknown; reason?: unknown };
    let body: QuorumError | null;
    try {
      body = JSON.parse(text) as QuorumError | null;
    } catch {
      body = null;
    }
    if (body?.error === 'quorum_not_reached') {
      // The fail-fast answer comes before a version is assigned: nothing was written.
      return { ok: false, kind: 'quorum', status: 503, unknown: body.reason !== 'insufficient_followers' };
    }
  }
  return { ok: false, kind: 'http', status: res.status, unknown: res.status >= 500 };
}

/**
 * A read's answer. version 0 = key not found (404). `version` is null when the body has a value but
 * no version (seed-API clusters); `unparsed` holds the start of a 200 body the harness could not read.
 */
export type ReadOutcome =
  | { ok: true; version: number | null; value?: unknown }
  | { ok: false; kind: ErrorKind; status?: number; unparsed?: string };

/** Read a 200 body of GET /read: `{value, version}`, `{key, value, ...}` (extra fields are fine) or `{<key>: value}`. */
export function parseReadBody(text: string, key: string): ReadOutcome {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, kind: 'http', status: 200, unparsed: text.slice(0, 200) };
  }
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const o = body as Record<string, unknown>;
    if (typeof o.version === 'number') return { ok: true, version: o.version, value: o.value };
    if ('value' in o) return o.value === null ? { ok: true, version: 0 } : { ok: true, version: null, value: o.value };
    if (key in o) return { ok: true, version: null, value: o[key] };
  }
  return { ok: false, kind: 'http', status: 200, unparsed: text.slice(0, 200) };
}

/** GET /read?key=K from any node. */
export async function readKey(dispatcher: Dispatcher, key: string, timeoutMs: number): Promise<ReadOutcome> {
  let res: FastReply;
  try {
    res = await fastRequest(dispatcher, { method: 'GET', path: `/read?key=${encodeURIComponent(key)}`, timeoutMs });
  } catch (err) {
    return { ok: false, kind: classifyThrown(err) };
  }
  return parseReadReply(res.status, res.text, key);
}

/** A `GET /read` answer by status and body: 404 = not found = version 0; another non-200 is an http error. */
export function parseReadReply(status: number, text: string, key: string): ReadOutcome {
  if (status === 404) return { ok: true, version: 0 };
  if (status !== 200) return { ok: false, kind: 'http', status };
  return parseReadBody(text, key);
}
