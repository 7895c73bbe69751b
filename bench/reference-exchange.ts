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

async function exchanges(pool: Pool, origin: string, count: number, connections: number): Promise<void> {
  let next = 0;
  const body = JSON.stringify({ key: 'k42', value: 'v-0123456789abcdef' });
  const loop = async () => {
    while (next < count) {
      next++;
      const res = await pool.request({
        origin,
        path: '/write',
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
      });
      await res.body.json();
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
}

/** Measure the reference exchange (used alone and inside other benchmarks). */
export async function measureReference(options: ReferenceOptions = {}): Promise<ReferenceResult> {
  const requests = options.requests ?? 20_000;
  const connections = options.connections ?? 10;
  const child = spawn(process.execPath, ['--input-type=module', '-e', SERVER], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { port: number }).port));
      child.once('exit', (code) => reject(new Error(`reference server exited (${code}) before listening`)));
    });
    const origin = `http://127.0.0.1:${port}`;
    const pool = new Pool(origin, { connections, pipelining: 1 });
    try {
      await exchanges(pool, origin, options.warmup ?? 2000, connections);
      const server0 = processCpuS(child.pid!) ?? 0;
      const client0 = process.cpuUsage();
      const t0 = performance.now();
      await exchanges(pool, origin, requests, connections);
      const wallS = (performance.now() - t0) / 1000;
      const client = process.cpuUsage(client0);
      const serverS = (processCpuS(child.pid!) ?? server0) - server0;
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
    child.kill('SIGTERM');
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
