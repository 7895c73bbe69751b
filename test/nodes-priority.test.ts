import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { startCluster } from '../nodes/cluster.ts';
import { canRunRealtime, resolvePriority } from '../nodes/priority.ts';
import { call } from './nodes-helpers.ts';

/** Scheduling policy of every thread of a process: field 41 of /proc/<pid>/task/<tid>/stat (0 = SCHED_OTHER, 1 = SCHED_FIFO). */
function threadPolicies(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    out.set(tid, Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[38]));
  }
  return out;
}

describe('leader priority', () => {
  test('auto falls back to normal, realtime is refused, normal never asks', () => {
    expect(resolvePriority('auto', () => true)).toBe('realtime');
    expect(resolvePriority('auto', () => false)).toBe('normal');
    expect(resolvePriority('realtime', () => false)).toBeNull();
    expect(
      resolvePriority('normal', () => {
        throw new Error('must not probe');
      }),
    ).toBe('normal');
  });

  test('auto (the default): the replication thread alone runs SCHED_FIFO when permitted; main thread and followers stay normal', async () => {
    const cluster = await startCluster({ writeQuorum: 1, followers: 2 });
    try {
      const permitted = canRunRealtime();
      expect(cluster.leaderPriority).toBe(permitted ? 'realtime' : 'normal');
      const s = (await call(`${cluster.leaderUrl}/stats`)).body;
      expect(s.replication).toMatchObject({
        thread: true,
        priority: permitted ? 'realtime' : 'normal',
        engine: { wanted: 'auto' },
      });
      expect(typeof s.replication.reason).toBe('string');
      const leaderPid = cluster.pids[0]!;
      const policies = threadPolicies(leaderPid);
      const fifo = [...policies].filter(([, p]) => p === 1).map(([tid]) => tid);
      if (permitted) {
        // The replication thread alone, not the main thread.
        expect(fifo).toHaveLength(1);
        expect(fifo).not.toContain(String(leaderPid));
      } else expect(fifo).toEqual([]);
      expect(policies.get(String(leaderPid))).toBe(0);
      for (const pid of cluster.pids.slice(1))
        expect([...threadPolicies(pid).values()].every((p) => p === 0)).toBe(true);
      // Still replicates at that priority.
      expect((await call(`${cluster.leaderUrl}/write`, 'POST', { key: 'k', value: 1 })).status).toBe(200);
    } finally {
      await cluster.stop();
    }
  });

  test('normal: no thread of the leader is real-time', async () => {
    const cluster = await startCluster({ writeQuorum: 1, followers: 1, leaderPriority: 'normal' });
    try {
      expect((await call(`${cluster.leaderUrl}/stats`)).body.replication).toMatchObject({ priority: 'normal' });
      expect([...threadPolicies(cluster.pids[0]!).values()].every((p) => p === 0)).toBe(true);
    } finally {
      await cluster.stop();
    }
  });
});
