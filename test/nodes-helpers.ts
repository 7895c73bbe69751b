/** Test helpers for the node tests: stand-in followers whose acks the test releases, HTTP calls. */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { request } from 'undici';
import type { ServerKind } from '../nodes/config.ts';
import { createExpressListener } from '../nodes/express-app.ts';
import type { RouteListenerFactory } from '../nodes/http-util.ts';

export interface JsonResponse {
  status: number;
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTP call with a JSON (or raw string) body; always consumes the response. */
export async function call(
  url: string,
  method = 'GET',
  body?: unknown,
  opts: { raw?: boolean; headers?: Record<string, string> } = {},
): Promise<JsonResponse> {
  const payload = body === undefined ? undefined : opts.raw ? (body as string | Buffer) : JSON.stringify(body);
  const res = await request(url, {
    method: method as 'GET',
    body: payload,
    headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    headersTimeout: 20_000,
    bodyTimeout: 20_000,
  });
  const text = await res.body.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.statusCode, body: parsed, headers: res.headers };
}

/** Poll `probe` until it returns true; bounded by `tries` (not by wall time). */
export async function until(
  probe: () => Promise<boolean> | boolean,
  what: string,
  tries = 400,
  intervalMs = 10,
): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Held {
  body: any;
  res: ServerResponse;
}

/**
 * A stand-in follower: accepts POST /replicate and holds each response until the test releases
 * it (or answers at once with `autoAck`). `status` sets the answer's status code.
 * GET /health (the leader's probes) is answered at once with `healthStatus` (never held, never
 * recorded in `received`) unless `hangHealth`; POST /snapshot at once with `status`, recorded in `snapshots`.
 */
export interface StandIn {
  url: string;
  /** Every /replicate body received, in arrival order. */
  received: any[];
  /** Every /snapshot body received. */
  snapshots: any[];
  healthStatus: number;
  /** Never answer /health (a paused process). */
  hangHealth: boolean;
  /** Health probes received. */
  probes: number;
  /** Hold /snapshot answers until releaseSnapshots(). */
  holdSnapshots: boolean;
  releaseSnapshots(): void;
  /** When set: sent as x-boot-id on answers and as bootId in /health (change it to fake a restart). */
  bootId: string | undefined;
  /** Responses not yet released. */
  readonly held: number;
  autoAck: boolean;
  status: number;
  /** Release the oldest held response(s). */
  release(count?: number): void;
  releaseAll(): void;
  /** Resolves once `count` requests in total have arrived. */
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function createStandIn(options: { autoAck?: boolean; status?: number } = {}): Promise<StandIn> {
  const held: Held[] = [];
  const hungProbes: ServerResponse[] = [];
  const heldSnapshots: Held[] = [];
  const received: any[] = [];
  const snapshots: any[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const answer = (h: Held, status: number) => {
    const text = JSON.stringify(status === 200 ? { status: 'success', applied: true } : { error: 'stand_in' });
    h.res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...(self.bootId ? { 'x-boot-id': self.bootId } : {}),
    });
    h.res.end(text);
  };
  const self: StandIn = {
    url: '',
    received,
    snapshots,
    healthStatus: 200,
    hangHealth: false,
    probes: 0,
    bootId: undefined,
    holdSnapshots: false,
    releaseSnapshots() {
      while (heldSnapshots.length) answer(heldSnapshots.shift()!, self.status);
    },
    get held() {
      return held.length;
    },
    autoAck: options.autoAck ?? false,
    status: options.status ?? 200,
    release(count = 1) {
      for (let i = 0; i < count; i++) {
        const h = held.shift();
        if (!h) throw new Error('nothing held');
        answer(h, self.status);
      }
    },
    releaseAll() {
      while (held.length) answer(held.shift()!, self.status);
    },
    waitForRequests(count) {
      if (received.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    close: async () => {
      self.releaseAll();
      self.releaseSnapshots();
      for (const r of hungProbes) r.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/health') {
      self.probes++;
      if (self.hangHealth) {
        hungProbes.push(res);
        return;
      }
      const text = JSON.stringify({ status: 'ok', role: 'follower', ...(self.bootId ? { bootId: self.bootId } : {}) });
      res.writeHead(self.healthStatus, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || 'null');
      if (req.url === '/snapshot') {
        snapshots.push(body);
        if (self.holdSnapshots) heldSnapshots.push({ body, res });
        else answer({ body, res }, self.status);
        return;
      }
      received.push(body);
      const h = { body, res };
      if (self.autoAck) answer(h, self.status);
      else held.push(h);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (received.length >= waiters[i]!.count) waiters.splice(i, 1)[0]!.resolve();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return self;
}

/** A URL nobody listens on (connection refused). */
export async function deadUrl(): Promise<string> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return `http://127.0.0.1:${port}`;
}

/** Track whether a promise has settled, without awaiting it. */
export function track<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  return { promise: p, settled: () => done };
}

/** Whether a process still exists (signal 0 checks without signalling). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Both HTTP servers a node can run (SERVER=http|express): suites that exercise routes run against each. */
export const SERVERS: ReadonlyArray<{ name: ServerKind; createListener: RouteListenerFactory | undefined }> = [
  { name: 'http', createListener: undefined },
  { name: 'express', createListener: createExpressListener },
];
