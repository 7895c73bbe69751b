import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRng } from '../lib/rng.ts';
import { checkLostWrites, type CheckedWrite } from '../nodes/checker.ts';
import { ClusterError, startCluster, type NodeExit, type RunningCluster } from '../nodes/cluster.ts';
import { call, until } from './nodes-helpers.ts';

const TOKEN = 'fault-test-token';

describe('real cluster under random follower kills, restarts and pauses', () => {
  let cluster: RunningCluster;
  const unexpected: NodeExit[] = [];
  beforeAll(async () => {
    cluster = await startCluster({
      writeQuorum: 2,
      followers: 4,
      minDelayMs: 0.1,
      maxDelayMs: 0.5,
      quorumTimeoutMs: 1000,
      replicationTimeoutMs: 1500,
      replicationToken: TOKEN,
      delaySeed: 7,
    });
    cluster.onUnexpectedExit((e) => unexpected.push(e));
  }, 30_000);
  afterAll(() => cluster?.stop());

  test('admin helpers: errors, pause/resume, restart on the same port', async () => {
    await expect(cluster.kill('follower9')).rejects.toMatchObject({ code: 'QL_ERR_UNKNOWN_NODE' });
    await expect(cluster.restart('leader')).rejects.toMatchObject({ code: 'QL_ERR_NODE_STATE' });
    expect(cluster.replicationToken).toBe(TOKEN);

    const url = cluster.followerUrls[3]!;
    const pid = cluster.pids[4]!;
    await cluster.pause('follower4');
    expect(cluster.nodeState('follower4')).toBe('paused');
    const probe = call(`${url}/health`);
    const raced = await Promise.race([
      probe.then(() => 'answered'),
      new Promise((r) => setTimeout(() => r('silent'), 300)),
    ]);
    expect(raced).toBe('silent');
    await cluster.resume('follower4');
    expect((await probe).body.status).toBe('ok');
    expect(cluster.nodeState('follower4')).toBe('running');

    const exit = await cluster.kill('follower4');
    expect(exit).toMatchObject({ name: 'follower4', pid, signal: 'SIGKILL' });
    expect(cluster.nodeState('follower4')).toBe('stopped');
    await expect(cluster.kill('follower4')).rejects.toBeInstanceOf(ClusterError);
    const node = await cluster.restart('follower4');
    expect(node).toMatchObject({ name: 'follower4', url });
    expect(node.pid).not.toBe(pid);
    expect(cluster.pids[4]).toBe(node.pid);
    expect(cluster.nodes[4]!.pid).toBe(node.pid);
    expect(await cluster.waitCaughtUp('follower4', { timeoutMs: 15_000 })).toBeGreaterThanOrEqual(0);
    expect(unexpected).toEqual([]);
  }, 30_000);

  test('the token guards admin endpoints; followers refuse direct replication without it', async () => {
    const reset = await call(`${cluster.leaderUrl}/stats/reset`, 'POST');
    expect(reset.status).toBe(401);
    expect(reset.body.error).toBe('unauthorized');
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
    expect((await call(`${cluster.leaderUrl}/stats/reset`, 'POST', undefined, auth)).status).toBe(200);
    expect(
      (await call(`${cluster.followerUrls[0]}/replicate`, 'POST', { key: 'x', value: 1, version: 999 })).status,
    ).toBe(401);
    expect((await call(`${cluster.followerUrls[0]}/read?key=x`)).status).toBe(404);
  });

  test('nothing acknowledged is lost; after healing every follower equals the leader', async () => {
    const rng = createRng(20240605);
    const acked: CheckedWrite[] = [];
    const unknown: CheckedWrite[] = [];
    const statuses = new Map<string, number>();
    let completed = 0;
    let stop = false;
    const waiters: Array<{ n: number; resolve: () => void }> = [];
    const client = async (c: number) => {
      for (let i = 0; !stop && i < 100_000; i++) {
        const key = `k${(c * 7 + i) % 40}`;
        const value = { c, i };
        let tag: string;
        try {
          const res = await call(`${cluster.leaderUrl}/write`, 'POST', { key, value });
          tag = res.status === 200 ? 'ok' : `${res.status}:${res.body?.reason ?? res.body?.error}`;
          if (res.status === 200) acked.push({ key, version: res.body.version, value });
          else if (typeof res.body?.version === 'number') unknown.push({ key, version: res.body.version });
        } catch {
          tag = 'connection';
        }
        statuses.set(tag, (statuses.get(tag) ?? 0) + 1);
        completed++;
        for (let w = waiters.length - 1; w >= 0; w--)
          if (completed >= waiters[w]!.n) waiters.splice(w, 1)[0]!.resolve();
      }
    };
    /** The fault clock: N more completed writes (not wall time). */
    const afterWrites = (n: number) => new Promise<void>((resolve) => waiters.push({ n: completed + n, resolve }));
    const clients = [0, 1, 2, 3].map(client);

    const names = ['follower1', 'follower2', 'follower3', 'follower4'];
    const out = new Map<string, 'killed' | 'paused'>();
    const actions: string[] = [];
    for (let step = 0; step < 14; step++) {
      await afterWrites(80);
      const name = names[rng.int(names.length)]!;
      const state = out.get(name);
      if (state === 'killed') {
        await cluster.restart(name);
        out.delete(name);
        actions.push(`restart ${name}`);
      } else if (state === 'paused') {
        await cluster.resume(name);
        out.delete(name);
        actions.push(`resume ${name}`);
      } else if (out.size < 2) {
        // At most two of four followers out: W=2 stays reachable.
        if (rng.next() < 0.7) {
          await cluster.kill(name);
          out.set(name, 'killed');
          actions.push(`kill ${name}`);
        } else {
          await cluster.pause(name);
          out.set(name, 'paused');
          actions.push(`pause ${name}`);
        }
      }
    }
    // Heal, let the load run on a little, then stop it.
    for (const [name, state] of out) {
      if (state === 'killed') await cluster.restart(name);
      else await cluster.resume(name);
    }
    for (const name of names) await cluster.waitCaughtUp(name, { timeoutMs: 20_000 });
    await afterWrites(40);
    stop = true;
    await Promise.all(clients);

    await until(
      async () => {
        const s = (await call(`${cluster.leaderUrl}/stats`)).body;
        return s.replication.pending === 0 && s.followers.every((f: { state: string }) => f.state === 'up');
      },
      'quiescent after healing',
      1000,
      20,
    );
    const urls = [cluster.leaderUrl, ...cluster.followerUrls];
    const dumps = await Promise.all(
      urls.map(async (u, i) => ({ name: cluster.nodes[i]!.name, data: (await call(`${u}/data`)).body })),
    );
    const report = checkLostWrites(acked, dumps, { unknownOutcome: unknown });
    expect(
      report.nodes.map((n) => [n.name, n.lost, n.corrupted]),
      JSON.stringify({ actions, statuses: [...statuses] }),
    ).toEqual(dumps.map((d) => [d.name, 0, 0]));
    expect(report.ok).toBe(true);
    expect(acked.length).toBeGreaterThan(300);
    for (const d of dumps.slice(1)) expect(d.data).toEqual(dumps[0]!.data);
    expect(actions.length).toBeGreaterThanOrEqual(5);
    expect(unexpected).toEqual([]);
    // Every write got an answer: success, or a 503 from the quorum contract.
    for (const tag of statuses.keys()) expect(tag).toMatch(/^(ok|503:(timeout|unreachable|insufficient_followers))$/);
    const stats = (await call(`${cluster.leaderUrl}/stats`)).body;
    expect(stats.followers.reduce((s: number, f: { catchUps: number }) => s + f.catchUps, 0)).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
