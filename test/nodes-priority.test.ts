import { describe, expect, test } from 'vitest';
import { resolvePriority, withPriority, REALTIME_PRIORITY } from '../nodes/priority.ts';
import { startCluster } from '../nodes/cluster.ts';
import { readFileSync } from 'node:fs';

describe('leader priority', () => {
  test('auto falls back to normal, realtime is refused, normal never asks', () => {
    expect(resolvePriority('auto', () => true)).toBe('realtime');
    expect(resolvePriority('auto', () => false)).toBe('normal');
    expect(resolvePriority('realtime', () => false)).toBeNull();
    expect(resolvePriority('normal', () => { throw new Error('must not probe'); })).toBe('normal');
  });

  test('realtime wraps the command in chrt -f', () => {
    expect(withPriority('realtime', '/usr/bin/node', ['a.ts'])).toEqual({ file: 'chrt', args: ['-f', String(REALTIME_PRIORITY), '/usr/bin/node', 'a.ts'] });
    expect(withPriority('normal', '/usr/bin/node', ['a.ts'])).toEqual({ file: '/usr/bin/node', args: ['a.ts'] });
  });

  test('a started leader runs with the policy the cluster reports', async () => {
    const cluster = await startCluster({ writeQuorum: 1, followers: 1 });
    try {
      // Field 41 of /proc/<pid>/stat is the scheduling policy: 0 = SCHED_OTHER, 1 = SCHED_FIFO.
      const policy = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[38]);
      expect(policy(cluster.pids[0]!)).toBe(cluster.leaderPriority === 'realtime' ? 1 : 0);
      expect(policy(cluster.pids[1]!)).toBe(0);
    } finally {
      await cluster.stop();
    }
  });
});
