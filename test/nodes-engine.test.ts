/**
 * The replication thread (nodes/replication/): legs leave on time while the leader's main thread
 * is blocked, and the leader's GET /trace records each traced write's timeline on the shared clock.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TRACE_HEADER, monotonicUs, type FollowerApplyTrace, type LeaderWriteTrace } from '../contracts/trace.ts';
import { startCluster, type RunningCluster } from '../nodes/cluster.ts';
import { createLeader, type LeaderServer } from '../nodes/leader.ts';
import { call } from './nodes-helpers.ts';

const DELAY_MS = 1;
// A block 50× the delay: a leg that does not wait for the main thread still leaves before the block
// ends when the replication thread or a follower is kept off the CPU for tens of ms (a crowded
// 2-core machine); with 5 ms, one 4 ms preemption per write already used up the margin.
const BLOCK_MS = 50;

describe('replication thread', () => {
  // Followers in their own processes, so a blocked main thread here does not block them.
  let cluster: RunningCluster;
  let leader: LeaderServer;
  let url: string;
  /** End of each main-thread block, µs on the shared clock, by version. */
  const blockEndUs: number[] = [];
  let blocking = false;

  beforeAll(async () => {
    cluster = await startCluster({ writeQuorum: 1, followers: 2, leaderPriority: 'normal' });
    leader = createLeader({
      followers: cluster.followerUrls,
      writeQuorum: 2,
      minDelayMs: DELAY_MS,
      maxDelayMs: DELAY_MS,
      testHooks: {
        afterSchedule: () => {
          if (!blocking) return;
          // The main thread is busy for BLOCK_MS right after handing the write over.
          const end = performance.now() + BLOCK_MS;
          while (performance.now() < end);
          blockEndUs.push(monotonicUs());
        },
      },
    });
    ({ url } = await leader.listen(0));
  });
  afterAll(async () => {
    await leader?.close();
    await cluster?.stop();
  });

  test(`with the main thread blocked for ${BLOCK_MS} ms, legs due after ${DELAY_MS} ms reach the followers before the block ends`, async () => {
    await call(`${url}/write`, 'POST', { key: 'warm', value: 0 });
    blocking = true;
    const writes = 10;
    for (let i = 0; i < writes; i++) {
      const r = await call(`${url}/write`, 'POST', { key: `b${i}`, value: i }, { headers: { [TRACE_HEADER]: '1' } });
      expect(r.status).toBe(200);
    }
    blocking = false;
    const leaderTrace: LeaderWriteTrace[] = (await call(`${url}/trace`)).body.writes;
    expect(leaderTrace).toHaveLength(writes);
    let legs = 0;
    let sentDuringBlock = 0;
    let receivedDuringBlock = 0;
    for (const [f, followerUrl] of cluster.followerUrls.entries()) {
      const applies: FollowerApplyTrace[] = (await call(`${followerUrl}/trace`)).body.applies;
      for (const [k, w] of leaderTrace.entries()) {
        const a = applies.find((x) => x.version === w.version);
        expect(a, `follower ${f + 1} got version ${w.version}`).toBeDefined();
        const leg = w.legs[f]!;
        // Never early.
        expect(leg.firedUs! - leg.scheduledUs).toBeGreaterThanOrEqual(DELAY_MS * 1000);
        expect(a!.receivedUs).toBeGreaterThan(leg.sentUs!);
        legs++;
        if (leg.sentUs! < blockEndUs[k]!) sentDuringBlock++;
        if (a!.receivedUs < blockEndUs[k]!) receivedDuringBlock++;
      }
    }
    // Had the legs waited for the main thread, none would have left or arrived before its block
    // ended. Shares, not all: on a crowded 2-core machine a follower process (normal priority) or
    // even a real-time thread is now and then kept off the CPU for milliseconds.
    expect(sentDuringBlock / legs).toBeGreaterThanOrEqual(0.9);
    expect(receivedDuringBlock / legs).toBeGreaterThanOrEqual(0.5);
  });

  test('GET /trace: a traced write has its whole timeline in order; untraced writes are not recorded; /stats/reset clears it', async () => {
    await call(`${url}/stats/reset`, 'POST');
    await call(`${url}/write`, 'POST', { key: 'plain', value: 1 });
    const r = await call(`${url}/write`, 'POST', { key: 't', value: 2 }, { headers: { [TRACE_HEADER]: '1' } });
    const dump = (await call(`${url}/trace`)).body;
    expect(dump).toMatchObject({ role: 'leader', dropped: 0 });
    expect(dump.writes).toHaveLength(1);
    const w: LeaderWriteTrace = dump.writes[0];
    expect(w).toMatchObject({ version: r.body.version, key: 't', quorum: 2 });
    expect(w.versionUs).toBeGreaterThanOrEqual(w.receivedUs);
    expect(w.quorumUs!).toBeLessThanOrEqual(w.responseUs!);
    expect(w.legs).toHaveLength(2);
    for (const leg of w.legs) {
      expect(leg.outcome).toBe('acked');
      expect(leg.targetDelayUs).toBeCloseTo(DELAY_MS * 1000, 6);
      expect(leg.scheduledUs).toBeGreaterThanOrEqual(w.receivedUs);
      expect(leg.firedUs! - leg.scheduledUs).toBeGreaterThanOrEqual(leg.targetDelayUs);
      expect(leg.sentUs!).toBeGreaterThanOrEqual(leg.firedUs!);
      expect(leg.ackUs!).toBeGreaterThan(leg.sentUs!);
      expect(leg.ackUs!).toBeLessThanOrEqual(w.quorumUs!);
    }
    expect(dump.nowUs).toBeGreaterThanOrEqual(w.responseUs!);
    await call(`${url}/stats/reset`, 'POST');
    expect((await call(`${url}/trace`)).body.writes).toEqual([]);
  });
});
