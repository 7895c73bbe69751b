/**
 * POST /admin/reset on both roles: empty the store so every quorum step of an experiment against a
 * long-running cluster (compose, `npm run cluster`) starts from the same state. Guarded by the
 * replication token like every admin call. The leader refuses (409) while replication is pending,
 * since a late message would otherwise refill a follower after its reset.
 */
import type { IncomingMessage } from 'node:http';
import { guarded } from './auth.ts';
import { sendJson, type RouteTable } from './http-util.ts';
import type { VersionedStore } from './store.ts';

export function adminResetRoutes(
  check: (req: IncomingMessage) => void,
  store: VersionedStore,
  pending: () => number = () => 0,
): RouteTable {
  return {
    '/admin/reset': {
      POST: guarded(check, (_req, res) => {
        const busy = pending();
        if (busy > 0) {
          sendJson(res, 409, {
            error: 'replication_pending',
            message: `${busy} replications still pending; retry once they are done`,
            pending: busy,
          });
          return;
        }
        sendJson(res, 200, { status: 'ok', cleared: store.clear() });
      }),
    },
  };
}
