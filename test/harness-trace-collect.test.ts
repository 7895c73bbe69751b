import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseTraceCsv } from '../analysis/trace-csv.ts';
import {
  TRACE_HEADER,
  monotonicUs,
  type ClientWriteTrace,
  type LeaderWriteTrace,
  type TraceDump,
} from '../contracts/trace.ts';
import { createControl, type Control } from '../harness/control.ts';
import { collectTraces, sameClock, traceMeta, type TraceCollectReport } from '../harness/trace-collect.ts';
import { createFollower, type FollowerServer } from '../nodes/follower.ts';
import { call } from './nodes-helpers.ts';

/** A stand-in leader serving a fixed set of traced writes, its clock shifted by `offsetUs`. */
function fakeLeader(writes: LeaderWriteTrace[], offsetUs: number): { server: Server; url: () => string } {
  const server = createServer((req, res) => {
    if (req.url !== '/trace') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"unknown_route"}');
      return;
    }
    const dump: TraceDump = { role: 'leader', nowUs: monotonicUs() + offsetUs, capacity: 10, dropped: 0, writes };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(dump));
  });
  return { server, url: () => `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

describe('collectTraces', () => {
  const followers: FollowerServer[] = [];
  const followerUrls: string[] = [];
  let control: Control;
  let dir: string;
  const t0 = monotonicUs();
  const leg = (i: number) => ({
    targetDelayUs: 100 * i,
    scheduledUs: t0 + 1,
    firedUs: t0 + 1 + 100 * i,
    sentUs: t0 + 2 + 100 * i,
    ackUs: null,
    outcome: 'pending' as const,
  });
  const leaderWrite: LeaderWriteTrace = {
    key: 'k',
    version: 1,
    receivedUs: t0,
    versionUs: t0 + 1,
    quorumUs: null,
    responseUs: null,
    quorum: 2,
    legs: [1, 2].map(leg),
  };
  const client: ClientWriteTrace = {
    client: 0,
    key: 'k',
    version: 1,
    intendedUs: t0 - 10,
    sentUs: t0 - 10,
    receivedUs: t0 + 500,
    reads: [],
  };

  beforeAll(async () => {
    control = createControl(5000);
    dir = await mkdtemp(join(tmpdir(), 'ql-trace-collect-'));
    for (let i = 0; i < 2; i++) {
      const f = createFollower();
      followers.push(f);
      followerUrls.push((await f.listen(0)).url);
    }
    // follower1 gets the traced write; follower2 gets it untraced (so its apply is missing).
    await call(
      `${followerUrls[0]}/replicate`,
      'POST',
      { key: 'k', value: 1, version: 1 },
      { headers: { [TRACE_HEADER]: '1' } },
    );
    await call(`${followerUrls[1]}/replicate`, 'POST', { key: 'k', value: 1, version: 1 });
  });
  afterAll(async () => {
    await Promise.all(followers.map((f) => f.close()));
    await control.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function withLeader<T>(offsetUs: number, run: (leaderUrl: string) => Promise<T>): Promise<T> {
    const leader = fakeLeader([leaderWrite], offsetUs);
    await new Promise<void>((r) => leader.server.listen(0, '127.0.0.1', r));
    try {
      return await run(leader.url());
    } finally {
      await new Promise((r) => leader.server.close(r));
    }
  }

  test('joins every node with the client and writes trace_q<W>.csv on a shared clock', async () => {
    const report = await withLeader(0, (leaderUrl) =>
      collectTraces({ control, leaderUrl, followerUrls, quorum: 2, clientTraces: [client], dir }),
    );
    expect(report.sharedClock).toBe(true);
    expect(report.note).toBeNull();
    expect(report.joinedWrites).toBe(1);
    expect(report.nodes.map((n) => [n.role, n.records])).toEqual([
      ['leader', 1],
      ['follower', 1],
      ['follower', 0],
    ]);
    expect(report.nodes[1]!.bootId).toBe(followers[0]!.bootId);
    const [w] = parseTraceCsv(await readFile(join(dir, report.file!), 'utf8'));
    expect(w!.clientReceivedUs).toBe(t0 + 500);
    expect(w!.legs[0]!.appliedUs).toBeGreaterThanOrEqual(t0);
    expect(w!.legs[0]!.bootId).toBe(followers[0]!.bootId);
    expect(w!.legs[1]!.appliedUs).toBeNull();
    expect(w!.legs[1]!.firedUs).toBe(t0 + 201);
  });

  test('a node on another clock makes the flag false and says why', async () => {
    const report = await withLeader(5_000_000_000, (leaderUrl) =>
      collectTraces({ control, leaderUrl, followerUrls, quorum: 3, clientTraces: [client], dir }),
    );
    expect(report.sharedClock).toBe(false);
    expect(report.note).toMatch(/do not share/);
    expect(report.nodes[0]!.clockOffsetUs).toBeGreaterThan(4_000_000_000);
  });

  test('a node without GET /trace is reported, not fatal', async () => {
    const report = await collectTraces({
      control,
      leaderUrl: 'http://127.0.0.1:1',
      followerUrls,
      quorum: 4,
      clientTraces: [client],
      dir,
    });
    expect(report.nodes[0]!.error).toMatch(/failed/);
    expect(report.sharedClock).toBe(true);
    expect(report.leaderOnly).toBe(0);
  });

  test('sameClock: inside the round trip, give or take the tolerance', () => {
    expect(sameClock(100, 150, 200)).toBe(true);
    expect(sameClock(100, 100 - 999, 200)).toBe(true);
    expect(sameClock(100, 200 + 5000, 200)).toBe(false);
  });
});

test('traceMeta: absent without traces; false as soon as one step was on another clock', () => {
  const r = (sharedClock: boolean | null) => ({ sharedClock }) as TraceCollectReport;
  expect(traceMeta({})).toBeUndefined();
  expect(traceMeta({ 1: r(true), 2: r(null) })!.sharedClock).toBe(true);
  expect(traceMeta({ 1: r(true), 2: r(false) })!.sharedClock).toBe(false);
});
