/**
 * Shared-secret bearer token for the internal and admin endpoints (REPLICATION_TOKEN).
 * Without a token every endpoint stays open, as before; with one, a follower only takes
 * /replicate, /snapshot and /stats/reset from whoever holds it, so clients cannot write to a
 * follower directly, and the leader's PUT /config and POST /stats/reset need it too.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError, type Handler } from './http-util.ts';
import { QuorumLabError } from '../contracts/errors.ts';

/** Printable ASCII without spaces (safe in a header), 1..1024 characters. */
export const TOKEN_PATTERN = /^[\x21-\x7e]{1,1024}$/;
/** What TOKEN_PATTERN allows, in words (shared by the nodes' and the harness's errors). */
export const TOKEN_RULE = 'must be 1..1024 printable ASCII characters without spaces';

export class TokenError extends QuorumLabError {
  constructor(message: string) {
    super('QL_ERR_CONFIG', message);
  }
}

/** Validate a token; returns it unchanged. */
export function validateToken(token: string): string {
  if (!TOKEN_PATTERN.test(token)) {
    throw new TokenError(TOKEN_RULE);
  }
  return token;
}

/** `{ authorization: 'Bearer <token>' }`, or nothing when no token is set. */
export function authHeaders(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/**
 * A check that throws 401 `unauthorized` unless the request carries `Authorization: Bearer <token>`.
 * timingSafeEqual (no early exit) once the lengths match: only the token's length can leak, and
 * the check stays cheap on the /replicate hot path (hashing both sides cost ~4% of throughput).
 */
export function createTokenCheck(token: string | undefined): (req: IncomingMessage) => void {
  if (token === undefined) return () => {};
  const expected = Buffer.from(`Bearer ${validateToken(token)}`);
  return (req) => {
    const got = req.headers.authorization;
    const gotBytes = got === undefined ? undefined : Buffer.from(got);
    if (gotBytes === undefined || gotBytes.length !== expected.length || !timingSafeEqual(gotBytes, expected)) {
      // The body is not read; drain it so the connection stays usable.
      req.resume();
      throw new HttpError(401, 'unauthorized', 'this endpoint needs "Authorization: Bearer <REPLICATION_TOKEN>"');
    }
  };
}

/** Wrap a handler so it runs only after the token check passes. */
export function guarded(check: (req: IncomingMessage) => void, handler: Handler): Handler {
  return (req, res, url) => {
    check(req);
    return handler(req, res, url);
  };
}
