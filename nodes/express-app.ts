/**
 * The node's routes served through Express 5 (SERVER=express; issue 10): Express's router picks the
 * route, the handlers are the same as on node:http. Lean: no etag, no x-powered-by, no query parser
 * (routes parse their own query), strict and case-sensitive paths so both servers answer every URL
 * alike; bodies are read by the handlers with the same limits and the same JSON error contract.
 *
 * Loaded only by nodes that ask for Express (main.ts imports it on demand), so a node:http node never
 * pays for loading Express.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import {
  allowedMethods,
  createErrorResponder,
  parseRequestUrl,
  runHandler,
  sendError,
  type RequestListener,
  type RouteTable,
  type RouterHooks,
} from './http-util.ts';

export function createExpressListener(routes: RouteTable, hooks: RouterHooks = {}): RequestListener {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', false);
  app.set('strict routing', true);
  app.set('case sensitive routing', true);
  const fail = createErrorResponder(hooks);
  const allow = allowedMethods(routes);
  for (const [path, methods] of Object.entries(routes)) {
    const route = app.route(path);
    for (const [method, handler] of Object.entries(methods)) {
      const verb = method.toLowerCase() as 'get' | 'post' | 'put' | 'delete';
      route[verb]((req: Request, res: Response) => runHandler(handler, req, res, parseRequestUrl(req.url), fail));
    }
    route.all((req: Request, res: Response) => {
      const allowed = allow.get(path)!;
      sendError(
        res,
        405,
        'method_not_allowed',
        `${req.method} is not allowed on ${path}`,
        { allow: allowed },
        { allow: allowed },
      );
    });
  }
  app.use((req: Request, res: Response) =>
    sendError(res, 404, 'unknown_route', `no route ${parseRequestUrl(req.url).path}`),
  );
  // Express's own failures (not the handlers', which runHandler answers) keep the JSON contract too.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) =>
    fail(res, parseRequestUrl(req.url).path, err),
  );
  return app as unknown as RequestListener;
}
