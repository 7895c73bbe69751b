/**
 * The client's HTTP calls against the node API (docs/contracts.md), on undici Pools with explicit
 * timeouts. Every response body is consumed, so keep-alive sockets return to their pool.
 */
import { Pool } from 'undici';

export type ErrorKind = 'quorum' | 'http' | 'timeout' | 'connection';

export const ERROR_KINDS: readonly ErrorKind[] = ['quorum', 'http', 'timeout', 'connection'];

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

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

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
export type WriteOutcome = { ok: true; version: number } | { ok: false; kind: ErrorKind; status?: number; unknown: boolean };

/** POST /write to the leader. A 503 quorum_not_reached is its own error kind. */
export async function postWrite(pool: Pool, key: string, value: string, timeoutMs: number): Promise<WriteOutcome> {
  let res;
  try {
    res = await pool.request({
      method: 'POST',
      path: '/write',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key, value }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  } catch (err) {
    // A refused connection never carried the request; anything later might have.
    return { ok: false, kind: classifyThrown(err), unknown: (err as { code?: unknown } | null)?.code !== 'ECONNREFUSED' };
  }
  try {
    const text = await res.body.text();
    if (res.statusCode === 200) {
      const version = (JSON.parse(text) as { version?: unknown }).version;
      if (typeof version === 'number') return { ok: true, version };
      return { ok: false, kind: 'http', status: res.statusCode, unknown: true };
    }
    if (res.statusCode === 503 && text.includes('quorum_not_reached')) {
      // The fail-fast answer comes before a version is assigned: nothing was written.
      return { ok: false, kind: 'quorum', status: 503, unknown: !text.includes('"insufficient_followers"') };
    }
    return { ok: false, kind: 'http', status: res.statusCode, unknown: res.statusCode >= 500 };
  } catch (err) {
    return { ok: false, kind: err instanceof SyntaxError ? 'http' : classifyThrown(err), unknown: true };
  }
}

/** version 0 = key not found (404). */
export type ReadOutcome = { ok: true; version: number } | { ok: false; kind: ErrorKind; status?: number };

/** GET /read?key=K from any node. */
export async function readKey(pool: Pool, key: string, timeoutMs: number): Promise<ReadOutcome> {
  let res;
  try {
    res = await pool.request({
      method: 'GET',
      path: `/read?key=${encodeURIComponent(key)}`,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  } catch (err) {
    return { ok: false, kind: classifyThrown(err) };
  }
  try {
    if (res.statusCode === 404) {
      await res.body.dump();
      return { ok: true, version: 0 };
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) return { ok: false, kind: 'http', status: res.statusCode };
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === 'number' ? { ok: true, version } : { ok: false, kind: 'http', status: 200 };
  } catch (err) {
    return { ok: false, kind: err instanceof SyntaxError ? 'http' : classifyThrown(err) };
  }
}
