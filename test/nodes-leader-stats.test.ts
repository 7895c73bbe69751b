import * as hdr from 'hdr-histogram-js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFollower, type FollowerServer } from '../nodes/follower.ts';
import { createLeader } from '../nodes/leader.ts';
import { call, until } from './nodes-helpers.ts';

const SUMMARY_KEYS = ['count', 'max', 'mean', 'p50', 'p99'];

describe('leader /stats, /stats/reset and /config', () => {
  let followers: FollowerServer[];
  let urls: string[];
  beforeAll(async () => {
    followers = Array.from({ length: 5 }, () => createFollower());
    urls = (await Promise.all(followers.map((f) => f.listen(0)))).map((l) => l.url);
  });
  afterAll(async () => {
    await Promise.all(followers.map((f) => f.close()));
  });

  async function withLeader<T>(
    options: Partial<Parameters<typeof createLeader>[0]>,
    fn: (url: string) => Promise<T>,
  ): Promise<T> {
    const leader = createLeader({ followers: urls, writeQuorum: 2, ...options });
    const { url } = await leader.listen(0);
    try {
      return await fn(url);
    } finally {
      await leader.close();
    }
  }

  async function writeN(url: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++)
      expect((await call(`${url}/write`, 'POST', { key: `s${i % 4}`, value: i })).status).toBe(200);
    await until(async () => (await call(`${url}/stats`)).body.replication.pending === 0, 'replication drained');
  }

  test('shape and figures as in docs/contracts.md', async () => {
    await withLeader({ minDelayMs: 0.1, maxDelayMs: 1, delaySeed: 5 }, async (url) => {
      await writeN(url, 30);
      const s = (await call(`${url}/stats`)).body;
      expect(s).toMatchObject({ role: 'leader', quorum: 2, version: 30, writes: { ok: 30, failed: 0, rejected: 0 } });
      expect(Object.keys(s.acksAtResponse)).toEqual(['0', '1', '2', '3', '4', '5']);
      expect(s.acksAtResponse['2']).toBe(30);
      expect(s.replication).toMatchObject({ pending: 0, sent: 150, acked: 150, failed: 0, skipped: 0, thread: true });
      expect(s.replication.engine).toMatchObject({ strategy: 'precise', entries: 150 });
      expect(s.availability).toEqual({ up: 5, catching_up: 0, down: 0, quorum: 2, writable: true });
      expect(s.followers).toHaveLength(5);
      for (const [i, f] of s.followers.entries()) {
        expect(f).toMatchObject({ url: urls[i], acked: 30, failed: 0, pending: 0, ackedVersion: 30, lagVersions: 0 });
        expect(f).toMatchObject({
          state: 'up',
          transitions: 0,
          lastError: null,
          skipped: 0,
          catchUps: 0,
          bootId: followers[i]!.bootId,
        });
        expect(Object.keys(f.ackLatencyUs).sort()).toEqual(SUMMARY_KEYS);
        expect(f.ackLatencyUs.count).toBe(30);
      }
      const d = s.delays;
      expect(d).toMatchObject({ strategy: 'precise', count: 150, early: 0, seed: 5 });
      for (const k of ['targetUs', 'realisedUs', 'errorUs']) expect(Object.keys(d[k]).sort()).toEqual(SUMMARY_KEYS);
      expect(d.targetUs.count).toBe(150);
      expect(d.targetUs.max).toBeLessThanOrEqual(1000);
      expect(d.targetUs.p50).toBeGreaterThanOrEqual(100);
      expect(d.realisedUs.mean).toBeGreaterThanOrEqual(d.targetUs.mean);
      expect(d.errorUs.mean).toBeGreaterThanOrEqual(0);
      expect(d.errorUs.mean).toBeCloseTo(d.realisedUs.mean - d.targetUs.mean, 1);
      const h = hdr.decodeFromCompressedBase64(d.realisedHdr);
      expect(h.totalCount).toBe(150);
      expect(s.writeLatencyUs.count).toBe(30);
    });
  });

  test('the same seed draws the same delays; another seed does not', async () => {
    const targets = async (seed: number) =>
      withLeader({ delaySeed: seed }, async (url) => {
        await writeN(url, 10);
        return (await call(`${url}/stats`)).body.delays.targetUs;
      });
    const a = await targets(99);
    const b = await targets(99);
    const c = await targets(100);
    expect(b).toEqual(a);
    expect(c.mean).not.toBe(a.mean);
  });

  test('PUT /config changes W for later writes; GET /config and /health report it', async () => {
    await withLeader({ writeQuorum: 1 }, async (url) => {
      expect((await call(`${url}/write`, 'POST', { key: 'a', value: 1 })).body.acks).toBe(1);
      expect(await call(`${url}/config`, 'PUT', { writeQuorum: 5 })).toMatchObject({
        status: 200,
        body: { quorum: 5 },
      });
      expect((await call(`${url}/health`)).body).toEqual({
        status: 'ok',
        role: 'leader',
        quorum: 5,
        followers: urls,
        followerStates: ['up', 'up', 'up', 'up', 'up'],
        up: 5,
        available: 5,
      });
      expect((await call(`${url}/config`)).body).toMatchObject({ quorum: 5, followers: urls, quorumTimeoutMs: 2000 });
      expect((await call(`${url}/write`, 'POST', { key: 'a', value: 2 })).body).toMatchObject({
        acks: 5,
        quorum: 5,
        version: 2,
      });
    });
  });

  test('POST /stats/reset clears counters and histograms, never the store or the version', async () => {
    await withLeader({}, async (url) => {
      await writeN(url, 8);
      expect((await call(`${url}/stats/reset`, 'POST')).status).toBe(200);
      const s = (await call(`${url}/stats`)).body;
      expect(s.version).toBe(8);
      expect(s.writes).toEqual({ ok: 0, failed: 0, rejected: 0, unavailable: 0 });
      expect(Object.values(s.acksAtResponse).every((v) => v === 0)).toBe(true);
      expect(s.replication).toMatchObject({ pending: 0, sent: 0, acked: 0, failed: 0, skipped: 0, thread: true });
      expect(s.replication.engine).toMatchObject({ requests: 0, entries: 0, batches: 0 });
      expect(s.delays).toMatchObject({
        count: 0,
        early: 0,
        targetUs: { count: 0 },
        realisedUs: { count: 0 },
        errorUs: { count: 0 },
      });
      expect(s.followers[0]).toMatchObject({ acked: 0, ackedVersion: 8, lagVersions: 0, ackLatencyUs: { count: 0 } });
      expect((await call(`${url}/read?key=s3`)).body).toEqual({ key: 's3', value: 7, version: 8 });
      expect((await call(`${url}/write`, 'POST', { key: 'n', value: 0 })).body.version).toBe(9);
    });
  });
});
