/**
 * SERVER=http vs SERVER=express (issue 10): the CPU a node spends per request and the cluster spends
 * per write with each server, from /proc per process, plus the rates reached. Requests: a follower's
 * GET /read from an undici client over 10 keep-alive connections, back to back. Writes: a W = 3
 * cluster (default delays) under 10 closed-loop writers; CPU of the six node processes per write.
 * The kinds alternate (http, express, http, express) so a drift of the machine touches both.
 */
import { spawn } from 'node:child_process';
import { Pool } from 'undici';
import { ensureNodeBundle } from '../lib/node-bundle.mjs';
import { startCluster } from '../nodes/cluster.ts';
import type { ServerKind } from '../nodes/config.ts';
import { formatTable, processCpuS, round1, round2 } from './common.ts';

export interface KindFigures {
  server: ServerKind;
  /** Follower CPU per GET /read, µs, and the rate reached. */
  readCpuUs: number;
  readsPerSec: number;
  /** CPU of all six node processes per write, and the leader's share, µs. */
  writeCpuUs: number;
  leaderWriteCpuUs: number;
  writesPerSec: number;
}

export interface ExpressVsHttpResult {
  reads: number;
  writes: number;
  rounds: KindFigures[];
  /** Mean over rounds per kind. */
  http: Omit<KindFigures, 'server'>;
  express: Omit<KindFigures, 'server'>;
  /** express ÷ http. */
  ratio: { readCpu: number; writeCpu: number };
}

async function closedLoop(count: number, concurrency: number, one: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await one(next++);
    }),
  );
  return (performance.now() - t0) / 1000;
}

async function readCost(server: ServerKind, reads: number): Promise<{ cpuUs: number; perSec: number }> {
  const main = await ensureNodeBundle();
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, ROLE: 'follower', PORT: '0', SERVER: server, REPLICATION_TOKEN: '' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.on('message', (m) => resolve((m as { data: { port: number } }).data.port));
      child.once('exit', (code) => reject(new Error(`follower (${server}) exited (${code})`)));
    });
    const origin = `http://127.0.0.1:${port}`;
    const pool = new Pool(origin, { connections: 10 });
    try {
      const seed = await pool.request({
        path: '/replicate',
        method: 'POST',
        body: JSON.stringify({ key: 'k', value: 'v', version: 1 }),
        headers: { 'content-type': 'application/json' },
      });
      await seed.body.text();
      const read = async () => {
        const r = await pool.request({ path: '/read?key=k', method: 'GET' });
        await r.body.json();
      };
      await closedLoop(Math.min(2000, reads), 10, read);
      const cpu0 = processCpuS(child.pid!) ?? 0;
      const wallS = await closedLoop(reads, 10, read);
      const cpuS = (processCpuS(child.pid!) ?? cpu0) - cpu0;
      return { cpuUs: (cpuS * 1e6) / reads, perSec: reads / wallS };
    } finally {
      await pool.close();
    }
  } finally {
    child.kill('SIGTERM');
  }
}

async function writeCost(
  server: ServerKind,
  writes: number,
): Promise<{ cpuUs: number; leaderUs: number; perSec: number }> {
  const cluster = await startCluster({ writeQuorum: 3, server });
  const pool = new Pool(cluster.leaderUrl, { connections: 10 });
  try {
    const write = async (i: number) => {
      const r = await pool.request({
        path: '/write',
        method: 'POST',
        body: JSON.stringify({ key: `k${i % 100}`, value: i }),
        headers: { 'content-type': 'application/json' },
      });
      await r.body.json();
    };
    await closedLoop(Math.min(1000, writes), 10, write);
    const cpu0 = cluster.pids.map((p) => processCpuS(p) ?? 0);
    const wallS = await closedLoop(writes, 10, write);
    const d = cluster.pids.map((p, i) => (processCpuS(p) ?? cpu0[i]!) - cpu0[i]!);
    return {
      cpuUs: (d.reduce((a, b) => a + b, 0) * 1e6) / writes,
      leaderUs: ((d[0] ?? 0) * 1e6) / writes,
      perSec: writes / wallS,
    };
  } finally {
    await pool.close();
    await cluster.stop();
  }
}

function meanOf(rounds: KindFigures[], server: ServerKind): Omit<KindFigures, 'server'> {
  const rs = rounds.filter((r) => r.server === server);
  const m = (f: (r: KindFigures) => number) => round1(rs.reduce((a, r) => a + f(r), 0) / rs.length);
  return {
    readCpuUs: m((r) => r.readCpuUs),
    readsPerSec: m((r) => r.readsPerSec),
    writeCpuUs: m((r) => r.writeCpuUs),
    leaderWriteCpuUs: m((r) => r.leaderWriteCpuUs),
    writesPerSec: m((r) => r.writesPerSec),
  };
}

export async function run(options: { quick?: boolean } = {}): Promise<ExpressVsHttpResult> {
  const reads = options.quick ? 2000 : 20_000;
  const writes = options.quick ? 500 : 5000;
  const rounds: KindFigures[] = [];
  for (const server of ['http', 'express', 'http', 'express'] as const) {
    const r = await readCost(server, reads);
    const w = await writeCost(server, writes);
    rounds.push({
      server,
      readCpuUs: round1(r.cpuUs),
      readsPerSec: Math.round(r.perSec),
      writeCpuUs: round1(w.cpuUs),
      leaderWriteCpuUs: round1(w.leaderUs),
      writesPerSec: Math.round(w.perSec),
    });
  }
  const http = meanOf(rounds, 'http');
  const express = meanOf(rounds, 'express');
  return {
    reads,
    writes,
    rounds,
    http,
    express,
    ratio: {
      readCpu: round2(express.readCpuUs / http.readCpuUs),
      writeCpu: round2(express.writeCpuUs / http.writeCpuUs),
    },
  };
}

export function format(r: ExpressVsHttpResult): string {
  const row = (name: string, k: Omit<KindFigures, 'server'>) => [
    name,
    k.readCpuUs,
    k.readsPerSec,
    k.writeCpuUs,
    k.leaderWriteCpuUs,
    k.writesPerSec,
  ];
  return formatTable(
    ['server', 'follower CPU µs / read', 'reads/s', 'cluster CPU µs / write', 'leader CPU µs / write', 'writes/s'],
    [row('http', r.http), row('express', r.express), ['express ÷ http', r.ratio.readCpu, '', r.ratio.writeCpu, '', '']],
  );
}

export function verdict(r: ExpressVsHttpResult): string {
  const favoured = r.ratio.writeCpu > 1 ? 'http' : 'express';
  return `express costs ${r.ratio.readCpu}× http's CPU per request and ${r.ratio.writeCpu}× per write; the default SERVER should be ${favoured} (nodes/config.ts DEFAULT_SERVER is http)`;
}
