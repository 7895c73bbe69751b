/**
 * Main-thread control calls against the nodes (stats, reset, config, data), on a private undici
 * Agent so an experiment can close its sockets and let the process exit. A cluster started with a
 * REPLICATION_TOKEN guards its admin endpoints (PUT /config, POST /stats/reset): `withToken` gives
 * a view on the same sockets that sends `Authorization: Bearer <token>` with every call.
 */
import { Agent, type Dispatcher, request } from 'undici';
import { QuorumLabError } from '../contracts/errors.ts';

export interface Control {
  getJson<T = unknown>(url: string, path: string): Promise<T>;
  sendJson<T = unknown>(method: 'POST' | 'PUT', url: string, path: string, body?: unknown): Promise<T>;
  /** The same calls with `Authorization: Bearer <token>` (none when token is null/undefined). Closing the view is a no-op. */
  withToken(token: string | null | undefined): Control;
  close(): Promise<void>;
}

export class ControlError extends QuorumLabError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super('QL_ERR_CONTROL', message);
  }
}

export function createControl(timeoutMs = 10_000, token?: string | null): Control {
  const agent = new Agent({
    connections: 4,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: timeoutMs,
  });
  return controlView(agent, token ?? null, () => agent.close());
}

function controlView(agent: Agent, token: string | null, close: () => Promise<void>): Control {
  const call = async <T>(method: string, url: string, path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(new URL(path, url), {
        method: method as 'GET',
        dispatcher: agent,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ControlError(`${method} ${url}${path} failed: ${(err as Error).message}`);
    }
    const text = await res.body.text();
    if (res.statusCode === 401) {
      const hint =
        token === null
          ? 'the cluster needs its REPLICATION_TOKEN (set it in the environment or --replication-token)'
          : 'the cluster rejects the given replication token';
      throw new ControlError(`${method} ${url}${path} answered 401: ${hint}`, 401);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw new ControlError(
        `${method} ${url}${path} answered ${res.statusCode}: ${text.slice(0, 200)}`,
        res.statusCode,
      );
    }
    try {
      return (text ? JSON.parse(text) : {}) as T;
    } catch {
      throw new ControlError(`${method} ${url}${path} answered non-JSON: ${text.slice(0, 200)}`, res.statusCode);
    }
  };
  return {
    getJson: (url, path) => call('GET', url, path),
    sendJson: (method, url, path, body) => call(method, url, path, body),
    withToken: (t) => controlView(agent, t ?? null, async () => {}),
    close,
  };
}
