/**
 * Fault specs (parsing and validation), the fault schedule's clock, choices and healing against
 * scripted launcher operations, the availability windows, and the replication token on the
 * harness's admin calls. The real-cluster fault runs are in harness-fault-cluster.test.ts.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { leaderWindowLatency } from '../harness/leader-windows.ts';
import { SHARED_ACTIVE_FAULTS, SHARED_DONE, SHARED_SLOTS, type ClientResult } from '../harness/client.ts';
import { AVAILABILITY_COLUMNS, SUMMARY_COLUMNS } from '../harness/csv.ts';
import { runExperiment } from '../harness/experiment.ts';
import { createFaultSchedule, type FaultOps } from '../harness/fault-schedule.ts';
import { FaultSpecError, parseFault, parseFaults } from '../harness/faults.ts';
import { createHistogram, encodeHistogram, recordUs } from '../harness/histogram.ts';
import { postWrite, createPool } from '../harness/http.ts';
import { checkNothingLost, mergeAcked } from '../harness/nothing-lost.ts';
import { OptionError, resolveOptions } from '../harness/options.ts';
import { availabilityWindows } from '../harness/results.ts';
import { startFakeCluster } from './harness-fake.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const CLI = fileURLToPath(new URL('../harness/cli.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { timeout: 20_000, cwd: ROOT, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
      },
    );
  });
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function tempOut(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ql-harness-faults-'));
  dirs.push(d);
  return join(d, 'run');
}

describe('fault specs', () => {
  test.each([
    [
      'kill:follower2@2s',
      { action: 'kill', target: { kind: 'name', name: 'follower2' }, at: { unit: 'ms', value: 2000 }, until: null },
    ],
    [
      'restart:follower2@5s',
      { action: 'restart', target: { kind: 'name', name: 'follower2' }, at: { unit: 'ms', value: 5000 }, until: null },
    ],
    [
      'pause:follower1@1s-3s',
      {
        action: 'pause',
        target: { kind: 'name', name: 'follower1' },
        at: { unit: 'ms', value: 1000 },
        until: { unit: 'ms', value: 3000 },
      },
    ],
    [
      'kill:2@30%',
      { action: 'kill', target: { kind: 'count', count: 2 }, at: { unit: 'percent', value: 30 }, until: null },
    ],
    [
      'kill:1@10%-40%',
      {
        action: 'kill',
        target: { kind: 'count', count: 1 },
        at: { unit: 'percent', value: 10 },
        until: { unit: 'percent', value: 40 },
      },
    ],
    [
      ' PAUSE : Follower5 @ 0% ',
      { action: 'pause', target: { kind: 'name', name: 'follower5' }, at: { unit: 'percent', value: 0 }, until: null },
    ],
    [
      'pause:3@500',
      { action: 'pause', target: { kind: 'count', count: 3 }, at: { unit: 'ms', value: 500 }, until: null },
    ],
    [
      'kill:5@12.5%',
      { action: 'kill', target: { kind: 'count', count: 5 }, at: { unit: 'percent', value: 12.5 }, until: null },
    ],
    [
      'kill:follower1@1e-3s-2ms',
      {
        action: 'kill',
        target: { kind: 'name', name: 'follower1' },
        at: { unit: 'ms', value: 1 },
        until: { unit: 'ms', value: 2 },
      },
    ],
    [
      'restart:1@100%',
      { action: 'restart', target: { kind: 'count', count: 1 }, at: { unit: 'percent', value: 100 }, until: null },
    ],
  ])('accepts %s', (text, expected) => {
    expect(parseFault(text, 5)).toEqual({ text: text.trim(), ...expected });
  });

  test.each([
    ['kill', /expected <action>:<target>@<time>/],
    ['kill:follower1', /expected <action>:<target>@<time>/],
    ['kill@2s', /expected <action>:<target>@<time>/],
    ['crash:follower1@2s', /unknown action "crash"/],
    ['kill:leader@2s', /leader cannot be faulted/],
    ['kill:follower6@2s', /no follower6/],
    ['kill:follower0@2s', /no follower0/],
    ['kill:0@2s', /count of followers must be 1\.\.5/],
    ['kill:6@2s', /count of followers must be 1\.\.5/],
    ['kill:somebody@2s', /neither follower1\.\.follower5 nor a count/],
    ['kill:1@', /missing time/],
    ['kill:1@2h', /cannot parse time "2h"/],
    ['kill:1@101%', /not a percentage/],
    ['kill:1@-5%', /not a percentage|cannot parse/],
    ['kill:1@x%', /not a percentage/],
    ['restart:1@1s-2s', /restart takes a single time/],
    ['pause:1@3s-1s', /must end after it starts/],
    ['pause:1@2s-2s', /must end after it starts/],
    ['pause:1@1s-50%', /same unit/],
    ['pause:1@1s-', /cannot parse time ""/],
  ])('rejects %s', (text, message) => {
    expect(() => parseFault(text, 5)).toThrowError(FaultSpecError);
    expect(() => parseFault(text, 5)).toThrowError(message);
  });

  test('lists: repeated values, commas and semicolons; empty entries rejected', () => {
    expect(parseFaults(['kill:1@10%', 'pause:follower2@1s-2s;restart:follower3@50%'], 5).map((f) => f.text)).toEqual([
      'kill:1@10%',
      'pause:follower2@1s-2s',
      'restart:follower3@50%',
    ]);
    expect(parseFaults('kill:1@10%,kill:follower5@20%', 5)).toHaveLength(2);
    expect(() => parseFaults('kill:1@10%,,kill:2@20%', 5)).toThrowError(/empty fault/);
    expect(() => parseFaults('kill:1@10%;', 5)).toThrowError(/empty fault/);
  });

  test('options: --fault errors carry QL_ERR_OPT_FAULT on one line; external clusters are refused', () => {
    expect(resolveOptions({}).faults).toEqual([]);
    expect(resolveOptions({ fault: ['kill:1@20%'] }).faults[0]!.action).toBe('kill');
    for (const input of [
      { fault: 'kill:leader@1s' },
      {
        fault: 'kill:follower2@1s',
        quorums: '1',
        leader: 'http://127.0.0.1:1',
        followers: 'http://127.0.0.1:2,http://127.0.0.1:3',
      },
      {
        fault: 'kill:follower3@1s',
        quorums: '1',
        leader: 'http://127.0.0.1:1',
        followers: 'http://127.0.0.1:2,http://127.0.0.1:3',
      },
    ]) {
      let caught: unknown;
      try {
        resolveOptions(input);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(OptionError);
      expect((caught as OptionError).code).toBe('QL_ERR_OPT_FAULT');
      expect((caught as OptionError).message).not.toContain('\n');
    }
    expect(() =>
      resolveOptions({
        fault: 'kill:1@1s',
        quorums: '1',
        leader: 'http://127.0.0.1:1',
        followers: 'http://127.0.0.1:2',
      }),
    ).toThrowError(/--leader/);
    expect(() => resolveOptions({ replicationToken: 'has space' })).toThrowError(/--replication-token/);
  });

  test('CLI: a bad fault exits 2 with a one-line message before anything starts; --fault may repeat', async () => {
    const bad = await runCli(['--fault', 'kill:follower1@2s', '--fault', 'kill:follower9@3s']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('--fault');
    expect(bad.stderr).toContain('follower9');
  });
});

interface FakeNode {
  state: 'running' | 'paused' | 'stopped';
}

/** Launcher operations over a scripted state machine, logging every call. */
function scriptedOps(names: string[]): { ops: FaultOps; log: string[]; nodes: Map<string, FakeNode> } {
  const nodes = new Map(names.map((n) => [n, { state: 'running' } as FakeNode]));
  const log: string[] = [];
  const node = (name: string): FakeNode => {
    const n = nodes.get(name);
    if (!n) throw new Error(`unknown ${name}`);
    return n;
  };
  const ops: FaultOps = {
    kill: async (name) => {
      log.push(`kill ${name}`);
      if (node(name).state === 'stopped') throw new Error(`${name} is not running`);
      node(name).state = 'stopped';
    },
    restart: async (name) => {
      log.push(`restart ${name}`);
      node(name).state = 'running';
    },
    pause: async (name) => {
      log.push(`pause ${name}`);
      if (node(name).state === 'stopped') throw new Error(`${name} is not running`);
      node(name).state = 'paused';
    },
    resume: async (name) => {
      log.push(`resume ${name}`);
      if (node(name).state === 'stopped') throw new Error(`${name} is not running`);
      node(name).state = 'running';
    },
    nodeState: (name) => node(name).state,
    waitCaughtUp: async (name) => {
      log.push(`caught-up ${name}`);
      if (node(name).state !== 'running') throw new Error(`${name} not caught up`);
      return 7;
    },
  };
  return { ops, log, nodes };
}

const FOLLOWERS = ['follower1', 'follower2', 'follower3', 'follower4', 'follower5'];

/** Drive the schedule's write clock: `done` completed writes, then let it act. */
async function advance(shared: Int32Array, done: number): Promise<void> {
  Atomics.store(shared, SHARED_DONE, done);
  // Let the poll (1 ms) see it and the commands settle: bounded by count, not time.
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 2));
}

describe('fault schedule', () => {
  test('% times follow the completed writes; ranges end on what they picked; the window flag counts faulted followers; healing restores everything', async () => {
    const { ops, log, nodes } = scriptedOps(FOLLOWERS);
    const shared = new Int32Array(new SharedArrayBuffer(SHARED_SLOTS * 4));
    const warnings: string[] = [];
    const schedule = createFaultSchedule({
      specs: parseFaults('pause:follower1@5%;kill:2@10%-50%;kill:follower1@30%', 5),
      followers: FOLLOWERS,
      ops,
      shared,
      writes: 100,
      seed: 99,
      catchUpTimeoutMs: 1000,
      onWarning: (m) => warnings.push(m),
    });
    schedule.start();
    await advance(shared, 4);
    expect(log).toEqual([]);
    expect(Atomics.load(shared, SHARED_ACTIVE_FAULTS)).toBe(0);
    await advance(shared, 5);
    expect(log).toEqual(['pause follower1']);
    expect(Atomics.load(shared, SHARED_ACTIVE_FAULTS)).toBe(1);

    await advance(shared, 10);
    // Two distinct followers among those still running (not the paused follower1).
    const killed = log.filter((l) => l.startsWith('kill')).map((l) => l.split(' ')[1]!);
    expect(killed).toHaveLength(2);
    expect(new Set(killed).size).toBe(2);
    expect(killed).not.toContain('follower1');
    expect(Atomics.load(shared, SHARED_ACTIVE_FAULTS)).toBe(3);

    await advance(shared, 30);
    expect(log).toContain('kill follower1');
    await advance(shared, 50);
    // The range end restarts exactly the followers its start killed, and waits for their catch-up.
    for (const f of killed) {
      expect(log).toContain(`restart ${f}`);
      expect(log).toContain(`caught-up ${f}`);
    }
    expect(nodes.get('follower1')!.state).toBe('stopped');
    expect(Atomics.load(shared, SHARED_ACTIVE_FAULTS)).toBe(1);

    const report = await schedule.heal();
    expect(report.healed).toBe(true);
    expect(report.notFired).toEqual([]);
    expect([...nodes.values()].every((n) => n.state === 'running')).toBe(true);
    expect(Atomics.load(shared, SHARED_ACTIVE_FAULTS)).toBe(0);
    expect(report.records.filter((r) => r.phase === 'heal').map((r) => `${r.command} ${r.follower}`)).toEqual([
      'restart follower1',
    ]);
    expect(report.recoveryMs).toBe(7);
    expect(report.faultWindowMs).toBeGreaterThan(0);
    const kills = report.records.filter((r) => r.command === 'kill' && r.spec === 'kill:2@10%-50%');
    expect(kills.every((r) => r.writesDone >= 10)).toBe(true);

    // The same seed picks the same followers (every quorum sees the same faults).
    const again = scriptedOps(FOLLOWERS);
    const shared2 = new Int32Array(new SharedArrayBuffer(SHARED_SLOTS * 4));
    const s2 = createFaultSchedule({
      specs: parseFaults('pause:follower1@5%;kill:2@10%-50%', 5),
      followers: FOLLOWERS,
      ops: again.ops,
      shared: shared2,
      writes: 100,
      seed: 99,
      catchUpTimeoutMs: 1000,
    });
    s2.start();
    await advance(shared2, 5);
    await advance(shared2, 10);
    expect(again.log.filter((l) => l.startsWith('kill'))).toEqual(killed.map((f) => `kill ${f}`));
    await s2.heal();
  });

  test('restart with a count prefers followers that are down; faults the load never reached are reported', async () => {
    const { ops, log } = scriptedOps(FOLLOWERS);
    const shared = new Int32Array(new SharedArrayBuffer(SHARED_SLOTS * 4));
    const warnings: string[] = [];
    const schedule = createFaultSchedule({
      specs: parseFaults('kill:follower3@0%;restart:1@50%;pause:follower2@60s', 5),
      followers: FOLLOWERS,
      ops,
      shared,
      writes: 10,
      seed: 1,
      catchUpTimeoutMs: 1000,
      onWarning: (m) => warnings.push(m),
    });
    schedule.start();
    await advance(shared, 0);
    expect(log).toEqual(['kill follower3']);
    await advance(shared, 5);
    expect(log.slice(1, 3)).toEqual(['restart follower3', 'caught-up follower3']);
    const report = await schedule.heal();
    expect(report.notFired).toEqual(['pause:follower2@60s']);
    expect(warnings.some((w) => w.includes('did not fire'))).toBe(true);
    expect(report.healed).toBe(true);
  });
});

describe('partition in the fault schedule', () => {
  test('a range reconnects at its end and waits for the catch-up; an open partition is reconnected when healing; cancel removes every rule', async () => {
    const { ops, log } = scriptedOps(FOLLOWERS);
    const active = new Set<string>();
    const partitions = {
      partition: async (name: string) => {
        log.push(`partition ${name}`);
        active.add(name);
      },
      heal: async (name: string) => {
        log.push(`reconnect ${name}`);
        active.delete(name);
      },
      active: () => [...active],
      healAllSync: () => {
        log.push('heal-all-sync');
        active.clear();
      },
    };
    const shared = new Int32Array(new SharedArrayBuffer(SHARED_SLOTS * 4));
    const windows: boolean[] = [];
    const schedule = createFaultSchedule({
      specs: parseFaults('partition:follower2@10%-20%;partition:follower4@30%', 5),
      followers: FOLLOWERS,
      ops,
      partitions,
      shared,
      writes: 100,
      seed: 1,
      catchUpTimeoutMs: 1000,
      onWindowChange: (faulted) => windows.push(faulted),
    });
    schedule.start();
    await advance(shared, 10);
    expect(log).toEqual(['partition follower2']);
    expect(Atomics.load(shared, SHARED_ACTIVE_FAULTS)).toBe(1);
    await advance(shared, 20);
    expect(log.slice(1)).toEqual(['reconnect follower2', 'caught-up follower2']);
    expect(Atomics.load(shared, SHARED_ACTIVE_FAULTS)).toBe(0);
    await advance(shared, 30);
    const report = await schedule.heal();
    expect(log.slice(3)).toEqual(['partition follower4', 'reconnect follower4', 'caught-up follower4']);
    expect(report.healed).toBe(true);
    expect(active.size).toBe(0);
    // The load had ended when healing reconnected follower4: windows are tracked during the load only.
    expect(windows).toEqual([true, false, true]);
    schedule.cancel();
    expect(log.at(-1)).toBe('heal-all-sync');
  });
});

describe('availability windows and the nothing-lost merge', () => {
  test('availability over intended writes, on a hand-built schedule', () => {
    // 100 writes/s for 10 s on two threads; a follower faulted from 2 s to 4 s (200 writes due).
    // In the fault window thread A had 100 due: 60 sent on time (55 acked), 40 late (all acked);
    // thread B had 100 due: 90 on time (85 acked, 5 quorum errors), 10 never sent (interrupted).
    const lat = (from: number, n: number): string => {
      const h = createHistogram();
      for (let i = 0; i < n; i++) recordUs(h, from + i);
      return encodeHistogram(h);
    };
    const noErr = { quorum: 0, http: 0, timeout: 0, connection: 0 };
    const win = (intended: number, sentOnTime: number, okOnTime: number, ok: number, quorum: number, base: number) => ({
      intended,
      sentOnTime,
      okOnTime,
      ok,
      errors: { ...noErr, quorum },
      latency: lat(base, ok),
      readsUnavailable: ok,
    });
    const threadA = {
      windows: {
        fault: win(100, 60, 55, 95, 0, 5000),
        normal: win(400, 400, 400, 400, 0, 500),
        all: win(500, 460, 455, 495, 0, 500),
      },
    };
    const threadB = {
      windows: {
        fault: win(100, 90, 85, 85, 5, 5000),
        normal: win(400, 400, 400, 400, 0, 500),
        all: win(500, 490, 485, 485, 5, 500),
      },
    };
    const faults = { records: [], notFired: [], faultWindowMs: 2000, recoveryMs: 10, healed: true };
    const rows = availabilityWindows([threadA, threadB] as unknown as ClientResult[], 10, faults);
    expect(rows.map((r) => [r.window, r.intended, r.attempted, r.ok, r.okOnTime])).toEqual([
      ['all', 1000, 985, 980, 940],
      ['fault', 200, 185, 180, 140],
      ['normal', 800, 800, 800, 800],
    ]);
    const fault = rows[1]!;
    // Counted over what was attempted the window looks 97 % available; over what the schedule intended, 70 %.
    expect(fault.availability).toBeCloseTo(180 / 185, 9);
    expect(fault.availabilityOfIntended).toBeCloseTo(0.7, 9);
    expect(fault.windowS).toBe(2);
    expect(fault.intendedPerSec).toBeCloseTo(100, 9);
    expect(fault.achievedPerSec).toBeCloseTo(90, 9);
    expect(rows[2]!.windowS).toBe(8);
    expect(rows[2]!.achievedPerSec).toBeCloseTo(100, 9);
    expect(fault.latency.p50).toBeGreaterThanOrEqual(5000);
    expect(fault.readsUnavailable).toBe(180);
    expect(availabilityWindows([threadA] as unknown as ClientResult[], 10, null).map((r) => r.window)).toEqual(['all']);
    const empty = { windows: { all: win(0, 0, 0, 0, 0, 0) } } as unknown as ClientResult;
    expect(availabilityWindows([empty], 0, null)[0]).toMatchObject({
      availability: null,
      availabilityOfIntended: null,
      intendedPerSec: null,
    });
  });

  test("the leader's latency per window, subtracted from its running /stats histograms at the boundaries", () => {
    // Cumulative leader histograms as /stats gives them: 100 writes at 1000 µs (normal), then 50 at
    // 4000 µs (fault), then 100 at 500 µs (normal).
    const cumulative = createHistogram();
    const snapshot = (faulted: boolean, count: number, meanUs: number) => ({
      faulted,
      count,
      meanUs,
      hdr: encodeHistogram(cumulative),
    });
    const samples = [snapshot(false, 0, 0)];
    for (let i = 0; i < 100; i++) recordUs(cumulative, 1000);
    samples.push(snapshot(true, 100, 1000));
    for (let i = 0; i < 50; i++) recordUs(cumulative, 4000);
    samples.push(snapshot(false, 150, 2000));
    for (let i = 0; i < 100; i++) recordUs(cumulative, 500);
    samples.push(snapshot(false, 250, 1400));
    const near = (us: number | null | undefined, want: number): boolean =>
      us != null && Math.abs(us - want) <= want / 1000 + 1;
    const w = leaderWindowLatency(samples);
    // The fault window's own p50, not the cumulative one (which would be 1000 µs at its end).
    expect(w.fault?.meanUs).toBe(4000);
    expect(near(w.fault?.p50Us, 4000) && near(w.fault?.p99Us, 4000)).toBe(true);
    // normal: 100 at 1000 and 100 at 500: mean 750, p50 500, p99 1000.
    expect(w.normal?.meanUs).toBe(750);
    expect(near(w.normal?.p50Us, 500) && near(w.normal?.p99Us, 1000)).toBe(true);
    // all: 250 writes, the 125th is at 1000 µs.
    expect(w.all?.meanUs).toBe(1400);
    expect(near(w.all?.p50Us, 1000) && near(w.all?.p99Us, 4000)).toBe(true);
    // A failed sample drops the segments it bounds, not the whole window.
    const failed = { faulted: false, count: null, meanUs: null, hdr: null };
    expect(leaderWindowLatency([samples[0]!, samples[1]!, failed, samples[3]!]).fault).toBeNull();
    expect(leaderWindowLatency([samples[0]!, samples[1]!, failed, samples[3]!]).normal?.meanUs).toBe(1000);
    // A leader restarted between two samples, then busier than before: its histogram no longer holds
    // the earlier writes, so the segment's percentiles are dropped rather than computed from negative counts.
    const restarted = createHistogram();
    for (let i = 0; i < 300; i++) recordUs(restarted, 700);
    const afterRestart = { faulted: false, count: 300, meanUs: 700, hdr: encodeHistogram(restarted) };
    const r = leaderWindowLatency([samples[0]!, samples[1]!, afterRestart]);
    expect(r.fault?.p50Us).toBeNull();
    expect(r.normal?.p50Us).not.toBeNull();
    // A leader without histograms (older or foreign): means only.
    const noHdr = samples.map((s) => ({ ...s, hdr: null }));
    expect(leaderWindowLatency(noHdr).fault).toEqual({ meanUs: 4000, p50Us: null, p99Us: null });
    expect(leaderWindowLatency([])).toEqual({ all: null, fault: null, normal: null });
  });

  test('the highest acknowledged version per key is checked on every node', () => {
    const acked = mergeAcked([
      [
        ['a', 3, 'x'],
        ['b', 1, 'y'],
      ],
      [['a', 5, 'z']],
    ]);
    expect(acked).toEqual([
      { key: 'a', version: 5, value: 'z' },
      { key: 'b', version: 1, value: 'y' },
    ]);
    const ok = { a: { value: 'z', version: 5 }, b: { value: 'q', version: 2 } };
    const behind = { a: { value: 'x', version: 3 } };
    const r = checkNothingLost(acked, [ok, ok, behind], ['leader', 'follower1', 'follower2'], 4);
    expect(r.lost).toBe(2);
    expect(r.unknownOutcome).toBe(4);
    expect(r.nodes.map((n) => n.lost)).toEqual([0, 0, 2]);
  });

  test('postWrite: a fail-fast 503 is a known failure, a 503 after a version is an unknown outcome', async () => {
    let reason = 'insufficient_followers';
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'quorum_not_reached', reason }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const pool = createPool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, {
      connections: 1,
      timeoutMs: 2000,
    });
    try {
      expect(await postWrite(pool, 'k', 'v', 2000)).toMatchObject({ ok: false, kind: 'quorum', unknown: false });
      reason = 'timeout';
      expect(await postWrite(pool, 'k', 'v', 2000)).toMatchObject({ ok: false, kind: 'quorum', unknown: true });
    } finally {
      await pool.close();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('runs without faults and with a replication token (fake cluster)', () => {
  test('availability.csv has the all row, summary.csv lost_writes 0, and admin calls carry the token', async () => {
    const out = await tempOut();
    const started: Awaited<ReturnType<typeof startFakeCluster>>[] = [];
    const result = await runExperiment(
      {
        quorums: '2',
        writes: 80,
        warmup: 10,
        clients: 2,
        threads: 1,
        readback: 0,
        seed: 5,
        out,
        analyze: false,
        replicationToken: 'secret-t0ken',
      },
      {
        startCluster: async (o) => {
          expect(o.replicationToken).toBe('secret-t0ken');
          const c = await startFakeCluster({ ...o, minDelayMs: 1, maxDelayMs: 3 });
          started.push(c);
          return c;
        },
      },
    );
    expect(result.nothingLost).toBe(true);
    expect(started[0]!.unauthorizedCalls()).toBe(0);
    const availability = (await readFile(join(out, 'availability.csv'), 'utf8')).trimEnd().split('\n');
    expect(availability[0]).toBe(AVAILABILITY_COLUMNS.join(','));
    expect(availability.slice(1)).toEqual([`2,all,80,80,0,0,0,0,1,${availability[1]!.split(',').slice(9).join(',')}`]);
    expect(availability[1]!.split(',')[11]).toBe('');
    const [header, row] = (await readFile(join(out, 'summary.csv'), 'utf8')).trimEnd().split('\n');
    expect(header).toBe(SUMMARY_COLUMNS.join(','));
    const cell = (name: string): string => row!.split(',')[header!.split(',').indexOf(name)]!;
    expect([cell('lost_writes'), cell('unknown_outcome_writes'), cell('complete')]).toEqual(['0', '0', 'true']);
    const meta = await readFile(join(out, 'meta.json'), 'utf8');
    expect(meta).not.toContain('secret-t0ken');
    expect(JSON.parse(meta).quorums['2'].lostWrites.checkedKeys).toBeGreaterThan(0);
  });

  test('external cluster with a token: refused without it (exit-2 option error), accepted with it', async () => {
    const cluster = await startFakeCluster({
      writeQuorum: 3,
      minDelayMs: 1,
      maxDelayMs: 3,
      replicationToken: 'ext-token',
    });
    try {
      const base = {
        quorums: '2',
        writes: 20,
        warmup: 0,
        clients: 1,
        readback: 0,
        analyze: false,
        leader: cluster.leaderUrl,
        followers: cluster.followerUrls.join(','),
      };
      await expect(runExperiment({ ...base, out: await tempOut() })).rejects.toMatchObject({
        code: 'QL_ERR_OPT_REPLICATION_TOKEN',
      });
      const refused = cluster.unauthorizedCalls();
      const result = await runExperiment({ ...base, out: await tempOut(), replicationToken: 'ext-token' });
      expect(result.converged).toBe(true);
      expect(cluster.unauthorizedCalls()).toBe(refused);
      expect(cluster.writesSeen()).toBe(20);
    } finally {
      await cluster.stop();
    }
  });

  test('a fault schedule with a launcher that cannot fault is refused, and the cluster is stopped', async () => {
    const started: Awaited<ReturnType<typeof startFakeCluster>>[] = [];
    await expect(
      runExperiment(
        { quorums: '1', writes: 10, warmup: 0, clients: 1, out: await tempOut(), analyze: false, fault: 'kill:1@10%' },
        {
          startCluster: async (o) => {
            const c = await startFakeCluster(o);
            started.push(c);
            return c;
          },
        },
      ),
    ).rejects.toMatchObject({ code: 'QL_ERR_FAULTS_UNSUPPORTED' });
    expect(started.every((c) => c.stopped())).toBe(true);
  });
});
