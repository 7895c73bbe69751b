/**
 * The read side every node serves the same way, leader and follower alike: GET /read?key=
 * (one value with its version, and the served-at trace headers) and GET /data (the whole store).
 */
import { readKeyParam, sendError, sendJson, sendJsonText, type RouteTable } from './http-util.ts';
import type { VersionedStore } from './store.ts';
import { servedAtHeaders } from './trace-ring.ts';

export function storeRoutes(store: VersionedStore): RouteTable {
  return {
    '/read': {
      GET: (req, res, url) => {
        const key = readKeyParam(url.query);
        const e = store.get(key);
        const served = servedAtHeaders(req);
        if (e === undefined)
          sendError(res, 404, 'not_found', `no value for key ${JSON.stringify(key)}`, { key }, served);
        // The text JSON.stringify({ key, value, version }) would give, without the object.
        else
          sendJsonText(
            res,
            200,
            `{"key":${JSON.stringify(key)},"value":${JSON.stringify(e.value)},"version":${e.version}}`,
            served,
          );
      },
    },
    '/data': { GET: (_req, res) => sendJson(res, 200, store.toJSON()) },
  };
}
