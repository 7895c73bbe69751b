import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLeader } from '../nodes/leader.ts';
import { call, createStandIn, track, until, type StandIn } from './nodes-helpers.ts';

// Stand-in followers hold every /replicate response until the test releases it, so "answers only
// after W acks and right after the W-th" is shown by counting, not by timing.
describe('leader quorum semantics with controlled acks', () => {
  let standIns: StandIn[];
  beforeAll(async () => {
    standIns = await Promise.all(Array.from({ length: 5 }, () => createStandIn()));
  });
  afterAll(async () => {
    await Promise.all(standIns.map((s) => s.close()));
  });

  // Release order deliberately not follower order: the quorum counts acks, not identities.
  const releaseOrder = [3, 0, 4, 1, 2];

  test.each([1, 2, 3, 4, 5])('W=%i: no answer before W acks, answer right after the W-th', async (w) => {
    const leader = createLeader({
      followers: standIns.map((s) => s.url),
      writeQuorum: w,
      minDelayMs: 0,
      maxDelayMs: 0,
      quorumTimeoutMs: 25_000,
      delaySeed: 1,
    });
    const { url } = await leader.listen(0);
    try {
      const before = standIns.map((s) => s.received.length);
      const write = track(call(`${url}/write`, 'POST', { key: 'k', value: `v${w}` }));
      await Promise.all(standIns.map((s, i) => s.waitForRequests(before[i]! + 1)));

      // The leader applied the write locally before any follower acked.
      const local = await call(`${url}/read?key=k`);
      expect(local.body).toEqual({ key: 'k', value: `v${w}`, version: 1 });
      for (const s of standIns) expect(s.received.at(-1)).toEqual({ key: 'k', value: `v${w}`, version: 1 });

      for (let k = 1; k < w; k++) {
        standIns[releaseOrder[k - 1]!]!.release();
        await until(async () => (await call(`${url}/stats`)).body.replication.acked === k, `ack ${k} processed`);
        const stats = (await call(`${url}/stats`)).body;
        expect(stats.writes.ok).toBe(0);
        expect(stats.writes.failed).toBe(0);
        expect(write.settled()).toBe(false);
      }

      standIns[releaseOrder[w - 1]!]!.release();
      const res = await write.promise;
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'success', key: 'k', value: `v${w}`, version: 1, acks: w, quorum: w });
      // Answered while the other 5 − W acks are still held: not later than needed.
      expect(standIns.reduce((n, s) => n + s.held, 0)).toBe(5 - w);

      const stats = (await call(`${url}/stats`)).body;
      expect(stats.acksAtResponse[String(w)]).toBe(1);
      expect(stats.replication.pending).toBe(5 - w);

      // Background replication completes once the remaining followers answer.
      for (const s of standIns) s.releaseAll();
      await until(async () => (await call(`${url}/stats`)).body.replication.pending === 0, 'replication drained');
      const after = (await call(`${url}/stats`)).body;
      expect(after.replication.acked).toBe(5);
      expect(after.followers.every((f: { ackedVersion: number }) => f.ackedVersion === 1)).toBe(true);
    } finally {
      for (const s of standIns) s.releaseAll();
      await leader.close();
    }
  });

  test('concurrent writes each wait for their own W acks', async () => {
    const leader = createLeader({
      followers: standIns.map((s) => s.url),
      writeQuorum: 2,
      minDelayMs: 0,
      maxDelayMs: 0,
    });
    const { url } = await leader.listen(0);
    try {
      const before = standIns.map((s) => s.received.length);
      const a = track(call(`${url}/write`, 'POST', { key: 'a', value: 1 }));
      await Promise.all(standIns.map((s, i) => s.waitForRequests(before[i]! + 1)));
      const b = track(call(`${url}/write`, 'POST', { key: 'b', value: 2 }));
      await Promise.all(standIns.map((s, i) => s.waitForRequests(before[i]! + 2)));
      // Release write a's replication on two followers: a completes, b still waits.
      standIns[0]!.release();
      standIns[1]!.release();
      expect((await a.promise).body).toMatchObject({ version: 1, acks: 2 });
      expect(b.settled()).toBe(false);
      standIns[0]!.release();
      standIns[1]!.release();
      expect((await b.promise).body).toMatchObject({ version: 2, acks: 2 });
    } finally {
      for (const s of standIns) s.releaseAll();
      await leader.close();
    }
  });
});
