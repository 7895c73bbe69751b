import { describe, expect, test } from 'vitest';
import { createFollower } from '../nodes/follower.ts';
import { createLeader } from '../nodes/leader.ts';
import { call, until } from './nodes-helpers.ts';

describe('replicas converge after quiescence', () => {
  test.each([1, 3])(
    'W=%i: many concurrent writes to one key with random delays ⇒ every follower equals the leader',
    async (w) => {
      const followers = Array.from({ length: 5 }, () => createFollower());
      const urls = (await Promise.all(followers.map((f) => f.listen(0)))).map((l) => l.url);
      // Wide delay range so replication messages overtake each other.
      const leader = createLeader({ followers: urls, writeQuorum: w, minDelayMs: 0, maxDelayMs: 5, delaySeed: 11 + w });
      const { url } = await leader.listen(0);
      try {
        const clients = 16;
        const perClient = 25;
        const statuses: number[] = [];
        await Promise.all(
          Array.from({ length: clients }, async (_, c) => {
            for (let i = 0; i < perClient; i++) {
              const key = i % 5 === 4 ? `other${c % 3}` : 'hot';
              statuses.push((await call(`${url}/write`, 'POST', { key, value: { c, i } })).status);
            }
          }),
        );
        expect(statuses.filter((s) => s !== 200)).toEqual([]);
        await until(async () => (await call(`${url}/stats`)).body.replication.pending === 0, 'quiescence', 1000);

        const leaderData = (await call(`${url}/data`)).body;
        expect(leaderData.hot.version).toBeGreaterThan(0);
        for (const u of urls) expect((await call(`${u}/data`)).body).toEqual(leaderData);

        const stats = (await call(`${url}/stats`)).body;
        expect(stats.version).toBe(clients * perClient);
        expect(stats.replication).toMatchObject({
          sent: 5 * clients * perClient,
          acked: 5 * clients * perClient,
          failed: 0,
        });
        expect(stats.delays.early).toBe(0);
        // Messages really did arrive out of order (else this test would prove little).
        const ignored = await Promise.all(urls.map(async (u) => (await call(`${u}/stats`)).body.ignored as number));
        expect(ignored.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      } finally {
        await leader.close();
        await Promise.all(followers.map((f) => f.close()));
      }
    },
  );
});
