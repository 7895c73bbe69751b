import { afterEach, describe, expect, test } from 'vitest';
import { createFollower, type FollowerServer } from '../nodes/follower.ts';
import { createLeader, type LeaderServer } from '../nodes/leader.ts';
import { call, createStandIn, deadUrl, until, type StandIn } from './nodes-helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function realFollowers(n: number): Promise<{ urls: string[]; nodes: FollowerServer[] }> {
  const nodes = Array.from({ length: n }, () => createFollower());
  const urls = (await Promise.all(nodes.map((f) => f.listen(0)))).map((l) => l.url);
  cleanups.push(async () => {
    await Promise.all(nodes.map((f) => f.close()));
  });
  return { urls, nodes };
}

async function standIns(n: number, opts: { autoAck?: boolean; status?: number } = {}): Promise<StandIn[]> {
  const s = await Promise.all(Array.from({ length: n }, () => createStandIn(opts)));
  cleanups.push(async () => {
    await Promise.all(s.map((x) => x.close()));
  });
  return s;
}

async function startLeader(
  options: Parameters<typeof createLeader>[0],
): Promise<{ leader: LeaderServer; url: string }> {
  const leader = createLeader({ closeGraceMs: 500, ...options });
  const { url } = await leader.listen(0);
  // Registered last, so it runs before the followers are closed.
  cleanups.push(() => leader.close());
  return { leader, url };
}

const stats = async (url: string) => (await call(`${url}/stats`)).body;

describe('leader when followers fail', () => {
  test('W=3 with 3 followers refusing connections: 503 acks=2 as soon as the quorum is impossible', async () => {
    const live = await realFollowers(2);
    const dead = await Promise.all([deadUrl(), deadUrl(), deadUrl()]);
    const quorumTimeoutMs = 10_000;
    // Delay draws per write, in follower order: the live followers at once, the dead ones after
    // 300 ms, so both acks are in before the third connection error makes W=3 impossible.
    const draws = [0, 0, 1, 1, 1];
    let i = 0;
    const rng = { next: () => draws[i++ % draws.length]!, int: () => 0 };
    // No probes: the dead followers are found out by this write's own replications.
    const { url } = await startLeader({
      followers: [...live.urls, ...dead],
      writeQuorum: 3,
      quorumTimeoutMs,
      minDelayMs: 0,
      maxDelayMs: 300,
      rng,
      probeIntervalMs: 0,
    });
    const t0 = performance.now();
    const res = await call(`${url}/write`, 'POST', { key: 'x', value: 42 });
    const elapsedMs = performance.now() - t0;
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({
      error: 'quorum_not_reached',
      key: 'x',
      version: 1,
      acks: 2,
      quorum: 3,
      reason: 'unreachable',
    });
    expect(res.body.applied).toMatch(/not rolled back/);
    // Known from connection errors, so far sooner than the quorum timeout.
    expect(elapsedMs).toBeGreaterThanOrEqual(290);
    expect(elapsedMs).toBeLessThan(quorumTimeoutMs / 2);
    // Not rolled back: the leader and the live followers keep the write.
    expect((await call(`${url}/read?key=x`)).body).toEqual({ key: 'x', value: 42, version: 1 });
    await until(async () => (await stats(url)).replication.pending === 0, 'replication settled');
    const s = await stats(url);
    expect(s.writes).toEqual({ ok: 0, failed: 1, rejected: 0, unavailable: 0 });
    expect(s.replication).toMatchObject({ acked: 2, failed: 3, pending: 0 });
    for (const f of live.nodes) expect(f.store.get('x')).toEqual({ value: 42, version: 1 });
  });

  test('W=3 with 3 followers hanging: 503 acks=2 at the quorum timeout, not before, not much after', async () => {
    const live = await realFollowers(2);
    const hung = await standIns(3);
    const quorumTimeoutMs = 400;
    const { url } = await startLeader({
      followers: [...live.urls, ...hung.map((s) => s.url)],
      writeQuorum: 3,
      quorumTimeoutMs,
    });
    const t0 = performance.now();
    const res = await call(`${url}/write`, 'POST', { key: 'y', value: 'v' });
    const elapsedMs = performance.now() - t0;
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: 'quorum_not_reached', acks: 2, quorum: 3, version: 1, reason: 'timeout' });
    expect(elapsedMs).toBeGreaterThanOrEqual(quorumTimeoutMs - 5);
    expect(elapsedMs).toBeLessThan(quorumTimeoutMs + 3000);
    const s = await stats(url);
    expect(s.acksAtResponse['2']).toBe(1);
    // The hung replications are still in flight (never cancelled); they ack once released.
    expect(s.replication.pending).toBe(3);
    for (const h of hung) h.releaseAll();
    await until(async () => (await stats(url)).replication.pending === 0, 'hung replications acked');
    expect((await stats(url)).followers.map((f: { ackedVersion: number }) => f.ackedVersion)).toEqual([1, 1, 1, 1, 1]);
  });

  test('W=5 with one follower answering 500: 503 without waiting for the timeout', async () => {
    const live = await realFollowers(4);
    const [broken] = await standIns(1, { autoAck: true, status: 500 });
    const { url } = await startLeader({
      followers: [...live.urls, broken!.url],
      writeQuorum: 5,
      quorumTimeoutMs: 10_000,
    });
    const t0 = performance.now();
    const res = await call(`${url}/write`, 'POST', { key: 'z', value: 1 });
    expect(res.status).toBe(503);
    expect(res.body.reason).toBe('unreachable');
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  test('W=1 with 4 followers down: 200, and the live follower holds the write', async () => {
    const live = await realFollowers(1);
    const dead = await Promise.all([deadUrl(), deadUrl(), deadUrl(), deadUrl()]);
    const { url } = await startLeader({ followers: [...dead, ...live.urls], writeQuorum: 1 });
    for (let i = 1; i <= 5; i++) {
      const res = await call(`${url}/write`, 'POST', { key: `k${i}`, value: i });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'success', version: i, acks: 1, quorum: 1 });
    }
    await until(async () => (await stats(url)).replication.pending === 0, 'replication settled');
    const s = await stats(url);
    expect(s.replication).toMatchObject({ acked: 5, failed: 20 });
    expect(s.followers.map((f: { failed: number }) => f.failed)).toEqual([5, 5, 5, 5, 0]);
    expect(s.followers[4].lagVersions).toBe(0);
    expect(s.followers[0].lagVersions).toBe(5);
    expect(Object.keys(live.nodes[0]!.store.toJSON())).toHaveLength(5);
  });

  test('after W acks, background replication still reaches every live follower', async () => {
    const f = await realFollowers(5);
    const { url } = await startLeader({
      followers: f.urls,
      writeQuorum: 1,
      minDelayMs: 0.1,
      maxDelayMs: 3,
      delaySeed: 3,
    });
    const writes = Array.from({ length: 40 }, (_, i) => call(`${url}/write`, 'POST', { key: `k${i % 7}`, value: i }));
    const results = await Promise.all(writes);
    expect(results.every((r) => r.status === 200 && r.body.acks === 1)).toBe(true);
    await until(async () => (await stats(url)).replication.pending === 0, 'replication drained');
    const leaderData = (await call(`${url}/data`)).body;
    for (const u of f.urls) expect((await call(`${u}/data`)).body).toEqual(leaderData);
    const s = await stats(url);
    expect(s.replication).toMatchObject({ sent: 200, acked: 200, failed: 0 });
    expect(s.delays.count).toBe(200);
    expect(s.delays.early).toBe(0);
  });
});
