/**
 * Main-thread control calls against the nodes (stats, reset, config, data), on a private undici
 * Agent so an experiment can close its sockets and let the process exit.
 */
import { Agent, request } from 'undici';

export interface Control {
  getJson<T = unknown>(url: string, path: string): Promise<T>;
  sendJson<T = unknown>(method: 'POST' | 'PUT', url: string, path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

export class ControlError extends Error {
  readonly code = 'QL_ERR_CONTROL';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export function createControl(timeoutMs = 10_000): Control {
  const agent = new Agent({ connections: 4, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: timeoutMs });
  const call = async <T>(method: string, url: string, path: string, body?: unknown): Promise<T> => {
    let res;
    try {
      res = await request(new URL(path, url), {
        method: method as 'GET',
        dispatcher: agent,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ControlError(`${method} ${url}${path} failed: ${(err as Error).message}`);
    }
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw new ControlError(`${method} ${url}${path} answered ${res.statusCode}: ${text.slice(0, 200)}`, res.statusCode);
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
    close: () => agent.close(),
  };
}
