/**
 * CPU per write (issue 13), as ratios to the reference exchange measured in the same run:
 *  - whole machine, marginal: /proc/stat busy time of two default experiments at W = 3 (10 closed-loop
 *    clients, read-back of all six replicas) that differ only in their number of writes, divided by the
 *    difference; fixed costs (start, warm-up, convergence) cancel. Ratio: ÷ 12 reference exchanges
 *    (a write is 6 exchanges, client → leader and leader → 5 followers, and its read-back 6 more).
 *  - leader per write and follower per replication message: the same marginal method on each node
 *    process's own CPU, in runs without read-back (writes alone). Ratios: leader ÷ (1 reference server
 *    request + 5 reference client requests); follower ÷ 1 reference server request.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExperiment } from '../harness/experiment.ts';
import type { RunningCluster, StartCluster } from '../harness/cluster-target.ts';
import { startCluster } from '../nodes/cluster.ts';
import { formatTable, machineCpuS, processCpuS, round1, round2 } from './common.ts';
import { measureReference, type ReferenceResult } from './reference-exchange.ts';

export interface RunCpu {
  writes: number;
  readback: number;
  machineBusyS: number;
  /** CPU of this process (the harness and its client threads) over the run, s. */
  harnessCpuS: number;
  /** Lifetime CPU of [leader, follower1..5] read just before they stopped, s. */
  nodeCpuS: number[];
}

export interface CpuPerWriteResult {
  quorum: number;
  writes: [number, number];
  reference: ReferenceResult;
  /** Whole machine, with read-back, marginal µs per write (counts other processes too: run it on a quiet machine). */
  machineUsPerWrite: number;
  /** The same from the run's own processes only (harness + six nodes), which other load cannot inflate. */
  processesUsPerWrite: number;
  leaderUsPerWrite: number;
  followerUsPerMessage: number;
  ratios: {
    machinePer12Exchanges: number;
    processesPer12Exchanges: number;
    leaderPerRefLeader: number;
    followerPerRefServer: number;
  };
  runs: RunCpu[];
}

/** One default experiment at W = 3; returns the machine's busy CPU over it and each node's CPU at its end. */
async function measuredRun(writes: number, readback: number): Promise<RunCpu> {
  const dir = mkdtempSync(join(tmpdir(), 'quorum-lab-cpu-per-write-'));
  let nodeCpuS: number[] = [];
  const start: StartCluster = async (options) => {
    const cluster = (await startCluster(options)) as unknown as RunningCluster;
    const stop = cluster.stop.bind(cluster);
    cluster.stop = () => {
      nodeCpuS = cluster.pids.map((pid) => processCpuS(pid) ?? 0);
      return stop();
    };
    return cluster;
  };
  const before = machineCpuS();
  const own0 = process.cpuUsage();
  try {
    await runExperiment(
      { quorums: '3', writes, readback, out: join(dir, 'run'), analyze: false, progress: false },
      { startCluster: start },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const own = process.cpuUsage(own0);
  const after = machineCpuS();
  return {
    writes,
    readback,
    machineBusyS: (after?.busyS ?? 0) - (before?.busyS ?? 0),
    harnessCpuS: (own.user + own.system) / 1e6,
    nodeCpuS,
  };
}

const perWriteUs = (a: number, b: number, n: number): number => ((b - a) * 1e6) / n;

export async function run(options: { quick?: boolean } = {}): Promise<CpuPerWriteResult> {
  const [small, large] = options.quick ? [300, 900] : [2000, 8000];
  const reference = await measureReference(options.quick ? { requests: 3000, warmup: 500 } : {});
  const withRead = [await measuredRun(small, 1), await measuredRun(large, 1)];
  const alone = [await measuredRun(small, 0), await measuredRun(large, 0)];
  const n = large - small;
  const machineUsPerWrite = perWriteUs(withRead[0]!.machineBusyS, withRead[1]!.machineBusyS, n);
  const processesS = (r: RunCpu) => r.harnessCpuS + r.nodeCpuS.reduce((a, b) => a + b, 0);
  const processesUsPerWrite = perWriteUs(processesS(withRead[0]!), processesS(withRead[1]!), n);
  const leaderUsPerWrite = perWriteUs(alone[0]!.nodeCpuS[0] ?? 0, alone[1]!.nodeCpuS[0] ?? 0, n);
  const followers = alone[1]!.nodeCpuS.slice(1).map((cpu, i) => perWriteUs(alone[0]!.nodeCpuS[i + 1] ?? 0, cpu, n));
  const followerUsPerMessage = followers.reduce((a, b) => a + b, 0) / Math.max(1, followers.length);
  const refLeaderUs = reference.serverCpuUs + 5 * reference.clientCpuUs;
  return {
    quorum: 3,
    writes: [small, large],
    reference,
    machineUsPerWrite: round1(machineUsPerWrite),
    processesUsPerWrite: round1(processesUsPerWrite),
    leaderUsPerWrite: round1(leaderUsPerWrite),
    followerUsPerMessage: round1(followerUsPerMessage),
    ratios: {
      machinePer12Exchanges: round2(machineUsPerWrite / (12 * reference.exchangeCpuUs)),
      processesPer12Exchanges: round2(processesUsPerWrite / (12 * reference.exchangeCpuUs)),
      leaderPerRefLeader: round2(leaderUsPerWrite / refLeaderUs),
      followerPerRefServer: round2(followerUsPerMessage / reference.serverCpuUs),
    },
    runs: [...withRead, ...alone],
  };
}

export function format(r: CpuPerWriteResult): string {
  const ref = r.reference;
  return formatTable(
    ['figure', 'µs', 'yardstick µs (same run)', 'ratio', 'target'],
    [
      [
        'whole machine per write (W=3, read-back of 6)',
        r.machineUsPerWrite,
        `12 × ${ref.exchangeCpuUs}`,
        r.ratios.machinePer12Exchanges,
        '≤ 0.8',
      ],
      [
        "the run's own processes per write (same runs)",
        r.processesUsPerWrite,
        `12 × ${ref.exchangeCpuUs}`,
        r.ratios.processesPer12Exchanges,
        '(≤ 0.8)',
      ],
      [
        'leader per write (writes alone)',
        r.leaderUsPerWrite,
        `${ref.serverCpuUs} + 5 × ${ref.clientCpuUs}`,
        r.ratios.leaderPerRefLeader,
        '≤ 1.0',
      ],
      [
        'follower per replication message',
        r.followerUsPerMessage,
        ref.serverCpuUs,
        r.ratios.followerPerRefServer,
        '≤ 1.2',
      ],
    ],
  );
}

export function verdict(r: CpuPerWriteResult): string {
  const check = (x: number, max: number) => `${x} (≤ ${max}) ${x <= max ? 'holds' : 'MISSED'}`;
  return [
    `marginal CPU per write ÷ 12 reference exchanges: ${check(r.ratios.machinePer12Exchanges, 0.8)}`,
    `leader per write ÷ (1 server + 5 client reference requests): ${check(r.ratios.leaderPerRefLeader, 1.0)}`,
    `follower per replication message ÷ reference server request: ${check(r.ratios.followerPerRefServer, 1.2)}`,
  ].join('\n');
}
