/**
 * A tiny in-process cluster speaking the node API of docs/contracts.md, for the harness's tests:
 * they must not depend on the real nodes, and need faults the real nodes do not have (a follower
 * that acks but drops writes, a leader that stalls once).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import type { ClusterOptions, RunningCluster } from '../harness/cluster-target.ts';

export interface FakeClusterOptions extends ClusterOptions {
  /** Follower (0-based) that acks replication without applying it, so replicas diverge. */
  lyingFollower?: number;
  /** Every response waits until this stall is over: it starts when write number `atWrite` arrives. */
  stall?: { atWrite: number; ms: number };
}

/** With a replicationToken, admin calls without `Authorization: Bearer <token>` get 401 (as the real nodes answer). */
function unauthorized(token: string | undefined, req: IncomingMessage, res: ServerResponse): boolean {
  if (token === undefined || req.headers.authorization === `Bearer ${token}`) return false;
  send(res, 401, { error: 'unauthorized', message: 'needs the token' });
  return true;
}

type Store = Map<string, { value: unknown; version: number }>;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : undefined;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function dataOf(store: Store): Record<string, { value: unknown; version: number }> {
  return Object.fromEntries([...store].map(([k, e]) => [k, { value: e.value, version: e.version }]));
}

function handleRead(store: Store, url: URL, res: ServerResponse): void {
  const key = url.searchParams.get('key');
  const e = key ? store.get(key) : undefined;
  if (!key) send(res, 400, { error: 'invalid_key', message: 'key missing' });
  else if (!e) send(res, 404, { error: 'not_found', key });
  else send(res, 200, { key, value: e.value, version: e.version });
}

export interface FakeCluster extends RunningCluster {
  writesSeen(): number;
  stopped(): boolean;
  /** Admin calls refused for a missing or wrong token. */
  unauthorizedCalls(): number;
}

export async function startFakeCluster(options: FakeClusterOptions): Promise<FakeCluster> {
  const followerCount = options.followers ?? 5;
  const minDelay = options.minDelayMs ?? 1;
  const maxDelay = options.maxDelayMs ?? 10;
  const servers: Server[] = [];
  const followerUrls: string[] = [];
  const token = options.replicationToken;
  let refused = 0;
  const guard = (req: IncomingMessage, res: ServerResponse): boolean => {
    const no = unauthorized(token, req, res);
    if (no) refused++;
    return no;
  };
  for (let i = 0; i < followerCount; i++) {
    const store: Store = new Map();
    const lying = options.lyingFollower === i;
    const server = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'POST' && url.pathname === '/replicate') {
        const body = (await readBody(req)) as { key: string; value: unknown; version: number };
        const cur = store.get(body.key);
        const apply = !lying && (!cur || cur.version < body.version);
        if (apply) store.set(body.key, { value: body.value, version: body.version });
        return send(res, 200, { status: 'success', applied: apply });
      }
      if (req.method === 'GET' && url.pathname === '/read') return handleRead(store, url, res);
      if (req.method === 'GET' && url.pathname === '/data') return send(res, 200, dataOf(store));
      if (req.method === 'GET' && url.pathname === '/health') return send(res, 200, { status: 'ok', role: 'follower' });
      if (req.method === 'POST' && url.pathname === '/stats/reset') return guard(req, res) || send(res, 200, {});
      if (req.method === 'GET' && url.pathname === '/stats')
        return send(res, 200, { role: 'follower', keys: store.size });
      send(res, 404, { error: 'not_found' });
    });
    servers.push(server);
    followerUrls.push(await listen(server));
  }

  const agent = new Agent({ connections: 16 });
  const store: Store = new Map();
  let quorum = options.writeQuorum;
  let version = 0;
  let pending = 0;
  let writes = 0;
  let stalledUntil = 0;
  const stallDone = (): Promise<void> => {
    const left = stalledUntil - Date.now();
    return left > 0 ? new Promise((r) => setTimeout(r, left)) : Promise.resolve();
  };

  const replicate = (url: string, key: string, value: unknown, v: number): Promise<boolean> => {
    pending++;
    const delay = minDelay + Math.random() * (maxDelay - minDelay);
    return new Promise<boolean>((resolve) => {
      setTimeout(async () => {
        try {
          const r = await request(`${url}/replicate`, {
            method: 'POST',
            dispatcher: agent,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ key, value, version: v }),
          });
          await r.body.dump();
          resolve(r.statusCode === 200);
        } catch {
          resolve(false);
        } finally {
          pending--;
        }
      }, delay);
    });
  };

  const leader = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname === '/write') {
      const body = (await readBody(req)) as { key: string; value: unknown };
      writes++;
      if (options.stall && writes === options.stall.atWrite) stalledUntil = Date.now() + options.stall.ms;
      const v = ++version;
      store.set(body.key, { value: body.value, version: v });
      const w = quorum;
      let acks = 0;
      await new Promise<void>((resolve) => {
        if (w === 0) resolve();
        for (const f of followerUrls) {
          void replicate(f, body.key, body.value, v).then((ok) => {
            if (ok && ++acks === w) resolve();
          });
        }
      });
      await stallDone();
      return send(res, 200, { status: 'success', key: body.key, value: body.value, version: v, acks, quorum: w });
    }
    await stallDone();
    if (req.method === 'GET' && url.pathname === '/read') return handleRead(store, url, res);
    if (req.method === 'GET' && url.pathname === '/data') return send(res, 200, dataOf(store));
    if (req.method === 'GET' && url.pathname === '/health')
      return send(res, 200, { status: 'ok', role: 'leader', quorum, followers: followerUrls });
    if (req.method === 'POST' && url.pathname === '/stats/reset') return guard(req, res) || send(res, 200, {});
    if (req.method === 'GET' && url.pathname === '/config') {
      return send(res, 200, {
        quorum,
        followers: followerCount,
        minDelayMs: minDelay,
        maxDelayMs: maxDelay,
        quorumTimeoutMs: 2000,
      });
    }
    if (req.method === 'PUT' && url.pathname === '/config') {
      if (guard(req, res)) return;
      const body = (await readBody(req)) as { writeQuorum: number };
      if (!Number.isInteger(body.writeQuorum) || body.writeQuorum < 1 || body.writeQuorum > followerCount) {
        return send(res, 400, { error: 'invalid_quorum', message: 'out of range' });
      }
      quorum = body.writeQuorum;
      return send(res, 200, { quorum });
    }
    if (req.method === 'GET' && url.pathname === '/stats') {
      const s = { count: 0, mean: 0, p50: 0, p99: 0, max: 0 };
      return send(res, 200, {
        role: 'leader',
        quorum,
        version,
        replication: { pending, sent: 0, acked: 0, failed: 0 },
        delays: {
          strategy: 'timeout',
          count: 0,
          early: 0,
          targetUs: s,
          realisedUs: { ...s, mean: 550 },
          errorUs: { ...s, p50: 12, p99: 90 },
        },
      });
    }
    send(res, 404, { error: 'not_found' });
  });
  servers.push(leader);
  const leaderUrl = await listen(leader);
  let isStopped = false;

  return {
    leaderUrl,
    followerUrls,
    pids: [],
    ...(token !== undefined ? { replicationToken: token } : {}),
    unauthorizedCalls: () => refused,
    writesSeen: () => writes,
    stopped: () => isStopped,
    stop: async () => {
      if (isStopped) return;
      isStopped = true;
      for (const s of servers) s.closeAllConnections();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      await agent.close();
    },
  };
}
