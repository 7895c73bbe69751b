/**
 * A stand-in "foreign" cluster for the tests: only the seed's endpoints, the way the Flask design
 * (../shared/seed/architecture.md) and its many student versions answer them. Reads carry no
 * version, writes answer `{"status": "success"}`, /data is a flat `{key: value}`, unknown routes
 * are an HTML 404, and W is fixed when the cluster starts (WRITE_QUORUM or --quorum).
 *
 * In-process: `startForeignCluster({ writeQuorum })`. As processes, for --cluster-cmd:
 *   tsx test/foreign-cluster.ts start --quorum W --leader-port P --follower-ports P1,..,P5 --pid-file F
 *   tsx test/foreign-cluster.ts stop --pid-file F
 * `start` returns once the detached cluster process is listening; `stop` ends it and waits.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface ForeignClusterOptions {
  writeQuorum: number;
  followers?: number;
  /** Ports of leader and followers; 0 or absent = ephemeral. */
  leaderPort?: number;
  followerPorts?: number[];
  /** Follower indices (0-based) whose /read answers a body nobody can interpret. */
  garbledReadFollowers?: number[];
  /** Replication delay bounds, ms. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

export interface ForeignCluster {
  leaderUrl: string;
  followerUrls: string[];
  close(): Promise<void>;
}

const NOT_FOUND_HTML = '<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n';

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
  res.end(NOT_FOUND_HTML);
}

async function bodyOf(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return JSON.parse(text || '{}') as Record<string, unknown>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

async function serve(port: number, handler: Handler): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    Promise.resolve(handler(req, res, url)).catch((err: Error) => send(res, 500, { error: err.message }));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** The read, data and health routes both roles share. */
function common(store: Map<string, string>, role: string, extra: Record<string, unknown>, garbled: boolean): Handler {
  return (req, res, url) => {
    if (req.method === 'GET' && url.pathname === '/read') {
      const key = url.searchParams.get('key') ?? '';
      if (garbled) return void send(res, 200, { status: 'ok', contents: 'unreadable' });
      if (!store.has(key)) return void send(res, 404, { error: 'Key not found' });
      return void send(res, 200, { key, value: store.get(key) });
    }
    if (req.method === 'GET' && url.pathname === '/data') return void send(res, 200, Object.fromEntries(store));
    if (req.method === 'GET' && url.pathname === '/health')
      return void send(res, 200, { status: 'healthy', role, ...extra });
    notFound(res);
  };
}

export async function startForeignCluster(o: ForeignClusterOptions): Promise<ForeignCluster> {
  const n = o.followers ?? 5;
  const servers: http.Server[] = [];
  const followerUrls: string[] = [];
  for (let i = 0; i < n; i++) {
    const store = new Map<string, string>();
    const shared = common(store, 'follower', {}, o.garbledReadFollowers?.includes(i) ?? false);
    const f = await serve(o.followerPorts?.[i] ?? 0, async (req, res, url) => {
      if (req.method === 'POST' && url.pathname === '/replicate') {
        const { key, value } = await bodyOf(req);
        store.set(String(key), String(value));
        return send(res, 200, { status: 'success' });
      }
      return shared(req, res, url);
    });
    servers.push(f.server);
    followerUrls.push(f.url);
  }
  const store = new Map<string, string>();
  const shared = common(store, 'leader', { write_quorum: o.writeQuorum }, false);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  // One queue per follower keeps replication of one key in order, as a single-threaded sender would.
  const queues = followerUrls.map(() => Promise.resolve());
  const minMs = o.minDelayMs ?? 0.1;
  const maxMs = o.maxDelayMs ?? 1;
  const replicate = (i: number, key: string, value: string): Promise<void> =>
    (queues[i] = queues[i]!.then(async () => {
      await new Promise((r) => setTimeout(r, minMs + Math.random() * (maxMs - minMs)));
      await postJson(agent, `${followerUrls[i]}/replicate`, { key, value });
    }));
  const leader = await serve(o.leaderPort ?? 0, async (req, res, url) => {
    if (req.method === 'POST' && url.pathname === '/write') {
      const { key, value } = await bodyOf(req);
      store.set(String(key), String(value));
      const acks = followerUrls.map((_, i) => replicate(i, String(key), String(value)));
      await atLeast(acks, o.writeQuorum);
      return send(res, 200, { status: 'success', message: `Write successful with ${o.writeQuorum} acknowledgments` });
    }
    return shared(req, res, url);
  });
  servers.push(leader.server);
  return {
    leaderUrl: leader.url,
    followerUrls,
    close: async () => {
      await Promise.all(queues);
      agent.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

function atLeast(promises: Promise<void>[], count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    if (count <= 0) resolve();
    for (const p of promises) p.then(() => ++done === count && resolve(), reject);
  });
}

function postJson(agent: http.Agent, url: string, body: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`${url} answered ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? undefined : argv[i + 1];
}

/** CLI: start (detached serve, returns once listening), serve, stop. */
async function main(argv: string[]): Promise<void> {
  const [command] = argv;
  const pidFile = arg(argv, 'pid-file');
  if (command === 'serve') {
    const cluster = await startForeignCluster({
      writeQuorum: Number(arg(argv, 'quorum') ?? process.env.WRITE_QUORUM ?? 3),
      leaderPort: Number(arg(argv, 'leader-port') ?? 0),
      followerPorts: (arg(argv, 'follower-ports') ?? '').split(',').filter(Boolean).map(Number),
    });
    process.on('SIGTERM', () => void cluster.close().then(() => process.exit(0)));
    process.send?.('listening');
    return;
  }
  if (!pidFile) throw new Error('--pid-file is required');
  if (command === 'start') {
    // No pipe of the caller's may stay open in the detached child, or the caller's shell never sees EOF: its stderr goes to a file.
    const log = openSync(`${pidFile}.log`, 'w');
    const child = spawn(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), 'serve', ...argv.slice(1)],
      {
        detached: true,
        stdio: ['ignore', 'ignore', log, 'ipc'],
      },
    );
    closeSync(log);
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) =>
        reject(
          new Error(
            `foreign cluster exited ${code} before listening: ${readFileSync(`${pidFile}.log`, 'utf8').trim().split('\n').slice(-3).join(' | ')}`,
          ),
        ),
      );
    });
    writeFileSync(pidFile, String(child.pid));
    child.disconnect();
    child.unref();
    return;
  }
  if (command === 'stop') {
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8'));
    rmSync(pidFile);
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 200; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`foreign cluster ${pid} still running 5 s after SIGTERM`);
  }
  throw new Error(`unknown command ${JSON.stringify(command)}: start | serve | stop`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`foreign-cluster: ${err.message}\n`);
    process.exit(1);
  });
}
