/**
 * Fault runs against the real local cluster (nodes/cluster.ts): the availability each W buys, and
 * nothing acknowledged lost under random kills, pauses and restarts. Few writes, no read-back.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { AVAILABILITY_COLUMNS } from '../harness/csv.ts';
import { runExperiment, type ExperimentResult } from '../harness/experiment.ts';
import type { ClusterTarget } from '../harness/cluster-target.ts';
import type { ExperimentInput } from '../harness/options.ts';
import type { AvailabilityWindow, QuorumResult } from '../harness/results.ts';
import { alive } from './nodes-helpers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HAVE_NODES = existsSync(join(ROOT, 'nodes/cluster.ts'));
const CLIENTS = 4;

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Run in-process; afterwards every process any cluster ever had (restarts included) must be gone. */
async function run(input: ExperimentInput): Promise<{ result: ExperimentResult; warnings: string[] }> {
  const d = await mkdtemp(join(tmpdir(), 'ql-harness-faults-real-'));
  dirs.push(d);
  const targets: ClusterTarget[] = [];
  const initialPids: number[] = [];
  const warnings: string[] = [];
  try {
    const result = await runExperiment(
      {
        warmup: 30,
        clients: CLIENTS,
        threads: 2,
        readback: 0,
        quorumTimeout: '500ms',
        seed: 11,
        analyze: false,
        out: join(d, 'run'),
        ...input,
      },
      {
        onCluster: (t) => {
          targets.push(t);
          initialPids.push(...t.pids);
        },
        onWarning: (m) => warnings.push(m),
      },
    );
    return { result, warnings };
  } finally {
    const pids = [...initialPids, ...targets.flatMap((t) => t.pids)];
    expect(pids.length).toBeGreaterThanOrEqual(6);
    expect(pids.filter(alive)).toEqual([]);
  }
}

function win(r: QuorumResult, name: AvailabilityWindow['window']): AvailabilityWindow {
  return r.availability.find((w) => w.window === name)!;
}

function byQuorum(result: ExperimentResult): Map<number, QuorumResult> {
  return new Map(result.results.map((r) => [r.quorum, r]));
}

/** Healed, converged, nothing lost, a measured catch-up. */
function expectHealthyEnd(r: QuorumResult): void {
  expect(r.faults!.healed, `W=${r.quorum}`).toBe(true);
  expect(r.convergence.converged, `W=${r.quorum}`).toBe(true);
  expect(r.lostWrites.lost, `W=${r.quorum}`).toBe(0);
  expect(r.lostWrites.nodes.map((n) => n.name)).toEqual([
    'leader',
    'follower1',
    'follower2',
    'follower3',
    'follower4',
    'follower5',
  ]);
  // Recovery is the longest catch-up the fault records show (null when nothing had to catch up).
  const catchUps = r.faults!.records.flatMap((x) => (x.catchUpMs === null ? [] : [x.catchUpMs]));
  expect(r.faults!.recoveryMs).toBe(catchUps.length > 0 ? Math.max(...catchUps) : null);
}

/** W needs more followers than are left: nearly every write sent during the fault fails with 503. */
function expectUnavailable(r: QuorumResult): void {
  const f = win(r, 'fault');
  expect(f.attempted, `W=${r.quorum}`).toBeGreaterThan(100);
  // A write sent in the instant between the kill command and the process's death may still succeed.
  expect(f.ok, `W=${r.quorum}`).toBeLessThanOrEqual(CLIENTS);
  expect(f.errors.quorum, `W=${r.quorum}`).toBeGreaterThanOrEqual(f.attempted - CLIENTS);
  // Before the kill everything worked, except writes already in flight when it happened.
  const n = win(r, 'normal');
  expect(n.attempted - n.ok, `W=${r.quorum}`).toBeLessThanOrEqual(CLIENTS);
}

/** Enough followers are left for W: the fault costs nothing in availability. */
function expectAvailable(r: QuorumResult): void {
  const f = win(r, 'fault');
  expect(f.attempted, `W=${r.quorum}`).toBeGreaterThan(100);
  // ≥ 99 % rather than 100 %: a 500 ms quorum timeout could still expire on a saturated machine.
  expect(f.availability!, `W=${r.quorum}`).toBeGreaterThanOrEqual(0.99);
  expect(win(r, 'all').availability!, `W=${r.quorum}`).toBeGreaterThanOrEqual(0.99);
  // The leader's own latency in the window sits beside the client's: every client latency contains
  // the leader's, so its p50 cannot be far above the client's (the windows' edges differ slightly).
  const leader = f.leaderLatency;
  expect(leader?.p50Us, `W=${r.quorum}`).toBeGreaterThan(0);
  expect(leader!.p50Us!, `W=${r.quorum}`).toBeLessThanOrEqual(leader!.p99Us!);
  expect(leader!.p50Us!, `W=${r.quorum}`).toBeLessThanOrEqual(1.5 * f.latency.p50);
}

describe.skipIf(!HAVE_NODES)('fault experiments on the real local cluster', () => {
  // Each run sweeps the two quorums on either side of the boundary (a cluster start costs ~2 s here).
  test('one follower killed at 10%: W=5 writes fail with 503 afterwards, W=4 succeeds; healed and nothing lost', async () => {
    const { result } = await run({ quorums: '4,5', writes: 300, fault: 'kill:1@10%' });
    const q = byQuorum(result);
    expectAvailable(q.get(4)!);
    expectUnavailable(q.get(5)!);
    for (const r of result.results) {
      expectHealthyEnd(r);
      // The same (seeded) follower was killed for every W.
      expect(r.faults!.records.filter((x) => x.command === 'kill').map((x) => x.follower)).toEqual(
        result.results[0]!.faults!.records.filter((x) => x.command === 'kill').map((x) => x.follower),
      );
    }
    expect(result.nothingLost).toBe(true);
    const csv = (await readFile(join(result.dir, 'availability.csv'), 'utf8')).trimEnd().split('\n');
    expect(csv[0]).toBe(AVAILABILITY_COLUMNS.join(','));
    expect(csv.slice(1).map((l) => l.split(',').slice(0, 2).join(','))).toEqual(
      ['4', '5'].flatMap((w) => [`${w},all`, `${w},fault`, `${w},normal`]),
    );
  }, 90_000);

  test('two followers killed at 10%: W=4 fails, W=3 succeeds', async () => {
    const { result } = await run({ quorums: '3,4', writes: 300, fault: 'kill:2@10%' });
    const q = byQuorum(result);
    expectAvailable(q.get(3)!);
    expectUnavailable(q.get(4)!);
    for (const r of result.results) {
      expectHealthyEnd(r);
      expect(new Set(r.faults!.records.filter((x) => x.command === 'kill').map((x) => x.follower)).size).toBe(2);
    }
  }, 90_000);

  test('random kills, pauses and restarts during the load: nothing acknowledged is lost, every follower catches up', async () => {
    const { result } = await run({
      quorums: '2',
      writes: 1500,
      seed: 20240605,
      fault: 'kill:1@5%-35%;pause:1@25%-45%;restart:1@60%;kill:1@80%',
    });
    const r = result.results[0]!;
    expectHealthyEnd(r);
    expect(r.ok).toBeGreaterThan(1000);
    const commands = r.faults!.records.map((x) => `${x.phase}:${x.command}`);
    for (const c of ['load:kill', 'load:pause', 'load:restart', 'load:resume', 'heal:restart'])
      expect(commands).toContain(c);
    expect(r.faults!.records.filter((x) => x.error !== null)).toEqual([]);
    const catchUps = r.faults!.records.filter((x) => x.catchUpMs !== null);
    expect(catchUps.length).toBeGreaterThanOrEqual(3);
    expect(r.faults!.faultWindowMs).toBeGreaterThan(0);
    // Unknown outcomes are a subset of the failed writes (503 after a version, timeouts, lost connections).
    expect(r.lostWrites.unknownOutcome).toBeLessThanOrEqual(
      r.errors.quorum + r.errors.timeout + r.errors.connection + r.errors.http,
    );
    const meta = JSON.parse(await readFile(join(result.dir, 'meta.json'), 'utf8'));
    expect(meta.quorums['2'].lostWrites.lost).toBe(0);
    expect(meta.quorums['2'].faults.records.length).toBe(r.faults!.records.length);
  }, 90_000);
});
