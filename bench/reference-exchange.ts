/**
 * The yardstick of every CPU figure (issue 13): a bare node:http JSON server in its own process
 * answering an undici client over 10 keep-alive connections, back to back. CPU per exchange is read
 * from /proc for the server process and from process.cpuUsage() for the client (this process), so a
 * benchmark can express its own CPU per write as a ratio to exchanges measured in the same run,
 * whatever the machine's speed that day.
 */
import { spawn } from 'node:child_process';
import { Pool } from 'undici';
import { formatTable, processCpuS, round1 } from './common.ts';

export interface ReferenceOptions {
  /** Measured exchanges. Default 20000. */
  requests?: number;
  /** Exchanges before the measurement (JIT warm-up). Default 2000. */
  warmup?: number;
  /** Keep-alive connections, one request in flight on each. Default 10. */
  connections?: number;
}

export interface ReferenceResult {
  requests: number;
  connections: number;
  wallS: number;
  ratePerSec: number;
  /** Server process CPU per request, µs. */
  serverCpuUs: number;
  /** Client (this process) CPU per request, µs. */
  clientCpuUs: number;
  /** Both sides, µs: one reference exchange. */
  exchangeCpuUs: number;
}

// The server: what a minimal JSON node does per request (read the body, parse, answer JSON), nothing else.
const SERVER = `
import http from 'node:http';
const server = http.createServer({ keepAliveTimeout: 10000 }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    const text = JSON.stringify({ status: 'ok', key: body.key ?? null, value: body.value ?? null });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
});
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('disconnect', () => process.exit(0));
`;

/** One kind of request a load loop sends: `body` may depend on the request's sequence number. */
export interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  body?: (seq: number) => string;
  headers?: Record<string, string>;
}

const REFERENCE_BODY = JSON.stringify({ key: 'k42', value: 'v-0123456789abcdef' });
/** What the reference client sends: a small JSON write. */
export const REFERENCE_REQUEST: RequestSpec = {
  method: 'POST',
  path: '/write',
  body: () => REFERENCE_BODY,
  headers: { 'content-type': 'application/json' },
};

/** `count` requests back to back over `connections` loops, one in flight on each; every body read to its end. */
export async function hammer(pool: Pool, spec: RequestSpec, count: number, connections: number): Promise<void> {
  let next = 0;
  const loop = async () => {
    while (next < count) {
      const seq = next++;
      const res = await pool.request({
        path: spec.path,
        method: spec.method,
        body: spec.body?.(seq),
        headers: spec.headers,
      });
      await res.body.json();
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
}

/** The reference server in its own process; `stop` ends it. */
export async function startReferenceServer(): Promise<{ pid: number; origin: string; stop: () => void }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SERVER], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { port: number }).port));
      child.once('exit', (code) => reject(new Error(`reference server exited (${code}) before listening`)));
    });
    return { pid: child.pid!, origin: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
  } catch (err) {
    child.kill('SIGTERM');
    throw err;
  }
}

/** Measure the reference exchange (used alone and inside other benchmarks). */
export async function measureReference(options: ReferenceOptions = {}): Promise<ReferenceResult> {
  const requests = options.requests ?? 20_000;
  const connections = options.connections ?? 10;
  const server = await startReferenceServer();
  try {
    const pool = new Pool(server.origin, { connections, pipelining: 1 });
    try {
      await hammer(pool, REFERENCE_REQUEST, options.warmup ?? 2000, connections);
      const server0 = processCpuS(server.pid) ?? 0;
      const client0 = process.cpuUsage();
      const t0 = performance.now();
      await hammer(pool, REFERENCE_REQUEST, requests, connections);
      const wallS = (performance.now() - t0) / 1000;
      const client = process.cpuUsage(client0);
      const serverS = (processCpuS(server.pid) ?? server0) - server0;
      const serverCpuUs = (serverS * 1e6) / requests;
      const clientCpuUs = (client.user + client.system) / requests;
      return {
        requests,
        connections,
        wallS: Math.round(wallS * 100) / 100,
        ratePerSec: Math.round(requests / wallS),
        serverCpuUs: round1(serverCpuUs),
        clientCpuUs: round1(clientCpuUs),
        exchangeCpuUs: round1(serverCpuUs + clientCpuUs),
      };
    } finally {
      await pool.close();
    }
  } finally {
    server.stop();
  }
}

export function run(options: { quick?: boolean } = {}): Promise<ReferenceResult> {
  return measureReference(options.quick ? { requests: 3000, warmup: 500 } : {});
}

export function format(r: ReferenceResult): string {
  return formatTable(
    ['exchanges', 'connections', 'per s', 'server CPU µs', 'client CPU µs', 'exchange CPU µs'],
    [[r.requests, r.connections, r.ratePerSec, r.serverCpuUs, r.clientCpuUs, r.exchangeCpuUs]],
  );
}
