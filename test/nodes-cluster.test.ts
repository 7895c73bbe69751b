import { spawn } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { describe, expect, test } from 'vitest';
import { TSX_IMPORT_ARGS } from '../lib/ts-run.ts';
import { ClusterError, startCluster, type NodeExit } from '../nodes/cluster.ts';
import { ConfigError } from '../nodes/config.ts';
import { call, until, alive } from './nodes-helpers.ts';

async function occupyPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as AddressInfo).port, release: () => new Promise((r) => srv.close(() => r())) };
}

describe('startCluster (real processes on ephemeral ports)', () => {
  test('server express: every node serves through Express (lean headers), replication works, the cluster reports it', async () => {
    const cluster = await startCluster({ writeQuorum: 2, followers: 2, server: 'express' });
    try {
      expect(cluster.server).toBe('express');
      const res = await call(`${cluster.leaderUrl}/write`, 'POST', { key: 'k', value: 1 });
      expect(res.body).toMatchObject({ status: 'success', acks: 2 });
      expect(res.headers['x-powered-by']).toBeUndefined();
      await until(async () => (await call(`${cluster.leaderUrl}/stats`)).body.replication.pending === 0, 'replication');
      for (const u of cluster.followerUrls) {
        const read = await call(`${u}/read?key=k`);
        expect(read.body).toEqual({ key: 'k', value: 1, version: 1 });
        expect(read.headers.etag).toBeUndefined();
      }
    } finally {
      await cluster.stop();
    }
  });

  test('starts leader + followers, replicates, reports a crash, stops every process', async () => {
    const cluster = await startCluster({
      writeQuorum: 2,
      followers: 3,
      delaySeed: 1234,
      minDelayMs: 0.2,
      maxDelayMs: 0.4,
    });
    try {
      expect(cluster.followerUrls).toHaveLength(3);
      expect(cluster.pids).toHaveLength(4);
      expect(cluster.nodes.map((n) => n.name)).toEqual(['leader', 'follower1', 'follower2', 'follower3']);
      expect(cluster.pids.every(alive)).toBe(true);
      expect((await call(`${cluster.leaderUrl}/health`)).body).toEqual({
        status: 'ok',
        role: 'leader',
        quorum: 2,
        followers: cluster.followerUrls,
        followerStates: ['up', 'up', 'up'],
        up: 3,
        available: 3,
      });
      expect((await call(`${cluster.leaderUrl}/config`)).body).toMatchObject({
        delaySeed: 1234,
        minDelayMs: 0.2,
        maxDelayMs: 0.4,
      });
      const res = await call(`${cluster.leaderUrl}/write`, 'POST', { key: 'hello', value: 'world' });
      expect(res.body).toMatchObject({ status: 'success', version: 1, acks: 2, quorum: 2 });
      await until(async () => (await call(`${cluster.leaderUrl}/stats`)).body.replication.pending === 0, 'replication');
      for (const u of cluster.followerUrls) {
        expect((await call(`${u}/read?key=hello`)).body).toEqual({ key: 'hello', value: 'world', version: 1 });
      }

      const exited = new Promise<NodeExit>((resolve) => cluster.onUnexpectedExit(resolve));
      process.kill(cluster.pids[2]!, 'SIGKILL');
      expect(await exited).toMatchObject({ name: 'follower2', pid: cluster.pids[2], signal: 'SIGKILL' });
    } finally {
      await cluster.stop();
    }
    expect(cluster.pids.filter(alive)).toEqual([]);
    await cluster.stop(); // idempotent
  });

  test('a taken follower port: clear error naming node and port, nothing left running', async () => {
    const busy = await occupyPort();
    try {
      const err = await startCluster({ writeQuorum: 1, followers: 2, followerPorts: [0, busy.port] }).catch((e) => e);
      expect(err).toBeInstanceOf(ClusterError);
      expect(err.code).toBe('QL_ERR_PORT_IN_USE');
      expect(err.node).toBe('follower2');
      expect(err.port).toBe(busy.port);
      expect(err.message).toBe(`follower2: port ${busy.port} on 127.0.0.1 is already in use`);
      expect(err.pids.length).toBeGreaterThanOrEqual(2);
      expect(err.pids.filter(alive)).toEqual([]);
    } finally {
      await busy.release();
    }
  });

  test('a taken leader port: the followers already started are stopped', async () => {
    const busy = await occupyPort();
    try {
      const err = await startCluster({ writeQuorum: 1, followers: 1, leaderPort: busy.port }).catch((e) => e);
      expect(err).toMatchObject({ code: 'QL_ERR_PORT_IN_USE', node: 'leader', port: busy.port });
      expect(err.pids).toHaveLength(2);
      expect(err.pids.filter(alive)).toEqual([]);
    } finally {
      await busy.release();
    }
  });

  test('invalid options are refused before anything is spawned', async () => {
    await expect(startCluster({ writeQuorum: 6 })).rejects.toThrow(ConfigError);
    await expect(startCluster({ writeQuorum: 1, followers: 2, followerPorts: [1] })).rejects.toThrow(/followerPorts/);
    await expect(startCluster({ writeQuorum: 1, minDelayMs: 3, maxDelayMs: 1 })).rejects.toThrow(/MIN_DELAY/);
  });

  test('no orphans when the launching process is killed outright', async () => {
    const script = `
      const { startCluster } = await import(${JSON.stringify(new URL('../nodes/cluster.ts', import.meta.url).href)});
      const c = await startCluster({ writeQuorum: 1, followers: 1 });
      console.log(JSON.stringify(c.pids));
    `;
    const parent = spawn(process.execPath, [...TSX_IMPORT_ARGS, '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pids = await new Promise<number[]>((resolve, reject) => {
      let out = '';
      parent.stdout!.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.startsWith('['));
        if (line) resolve(JSON.parse(line));
      });
      parent.on('exit', (code) => reject(new Error(`launcher exited early (${code}): ${out}`)));
    });
    expect(pids.every(alive)).toBe(true);
    parent.kill('SIGKILL');
    // The nodes notice their IPC channel closing and shut down on their own.
    await until(() => pids.every((p) => !alive(p)), 'orphans to exit', 500, 20);
  });
});
