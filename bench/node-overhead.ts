/**
 * Benchmark 2 — node overhead. One client, sequential writes, MIN_DELAY = MAX_DELAY = 0, W = 1..5 on
 * a real cluster (child processes), against bare HTTP round trips to one follower on the same
 * machine (GET /health, POST /replicate). A write is two hops (client → leader → W followers →
 * leader → client), so the floor is about two bare round trips; the rest is what the leader adds.
 *
 * The leader's own view (/stats writeLatencyUs: request arrival → response; delays.realisedUs:
 * how long a zero delay waited in the scheduler; followers[].ackLatencyUs: the /replicate round
 * trip) splits the client-side latency into where it goes. Bare round trips are measured in
 * blocks between the write blocks, so both see the same machine.
 */
import type { Pool } from 'undici';
import { createPool, postWrite } from '../harness/http.ts';
import { cpuDelta, startBenchCluster, type BenchCluster } from './cluster.ts';
import { formatTable, ownCpuS, round1, summarize, type Summary } from './common.ts';

export interface NodeOverheadOptions {
  /** Measured writes per W. Default 3000. */
  writesPerQuorum?: number;
  /** Unmeasured writes before each W. Default 300. */
  warmupWrites?: number;
  /** Bare round trips of each kind per block (one block before each W in each round). Default 500. */
  bareRequestsPerBlock?: number;
  quorums?: number[];
  /** Passes over all W (each W gets writesPerQuorum / rounds per pass). Default 3. */
  rounds?: number;
}

export interface BareResult {
  kind: string;
  latencyUs: Summary;
}

export interface QuorumOverhead {
  quorum: number;
  writes: number;
  clientUs: Summary;
  /** Leader-side request arrival → response (its /stats writeLatencyUs), mean, µs. */
  leaderMeanUs: number;
  /** Mean realised wait of a zero delay in the leader's scheduler, µs. */
  schedulerWaitMeanUs: number;
  /** /replicate round trip as the leader sees it, mean over followers of their means, µs. */
  replicateRttMeanUs: number;
  /** client mean − leader mean: the client ↔ leader hop, HTTP parsing on both ends, µs. */
  clientLegUs: number;
  /** client − 2 × bare POST /replicate (means; p50s): what the leader adds beyond two plain hops, µs. */
  overheadVsTwoHopsUs: { mean: number; p50: number };
  cpuUsPerWrite: { client: number; leader: number; followers: number; total: number };
}

export interface NodeOverheadResult {
  options: Required<NodeOverheadOptions>;
  leaderPriority: string;
  bare: BareResult[];
  quorums: QuorumOverhead[];
}

async function timed(n: number, fn: () => Promise<unknown>): Promise<Float64Array> {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out[i] = (performance.now() - t0) * 1000;
  }
  return out;
}

async function bareGet(pool: Pool, path: string): Promise<void> {
  const res = await pool.request({ method: 'GET', path });
  await res.body.text();
}

/** One W's measurements, summed over the rounds. */
interface QuorumAcc {
  lat: number[];
  leaderSumUs: number;
  leaderN: number;
  schedSumUs: number;
  schedN: number;
  rttSumUs: number;
  rttN: number;
  ownS: number;
  leaderS: number;
  followersS: number;
}

const emptyAcc = (): QuorumAcc => ({
  lat: [],
  leaderSumUs: 0,
  leaderN: 0,
  schedSumUs: 0,
  schedN: 0,
  rttSumUs: 0,
  rttN: 0,
  ownS: 0,
  leaderS: 0,
  followersS: 0,
});

type LeaderStatsJson = Awaited<ReturnType<BenchCluster['leaderStats']>>;

function addBlock(
  a: QuorumAcc,
  lat: Float64Array,
  stats: LeaderStatsJson,
  ownS: number,
  cpu: ReturnType<typeof cpuDelta>,
): void {
  a.lat.push(...lat);
  a.leaderSumUs += stats.writeLatencyUs.mean * stats.writeLatencyUs.count;
  a.leaderN += stats.writeLatencyUs.count;
  a.schedSumUs += stats.delays.realisedUs.mean * stats.delays.realisedUs.count;
  a.schedN += stats.delays.realisedUs.count;
  for (const f of stats.followers) {
    a.rttSumUs += f.ackLatencyUs.mean * f.ackLatencyUs.count;
    a.rttN += f.ackLatencyUs.count;
  }
  a.ownS += ownS;
  a.leaderS += cpu.leaderS;
  a.followersS += cpu.followersS;
}

function overheadOf(quorum: number, a: QuorumAcc, bareRep: Summary): QuorumOverhead {
  const clientUs = summarize(a.lat);
  const leaderMean = a.leaderSumUs / a.leaderN;
  const perWrite = (s: number): number => round1((s * 1e6) / a.lat.length);
  return {
    quorum,
    writes: a.lat.length,
    clientUs,
    leaderMeanUs: round1(leaderMean),
    schedulerWaitMeanUs: round1(a.schedSumUs / a.schedN),
    replicateRttMeanUs: round1(a.rttSumUs / a.rttN),
    clientLegUs: round1(clientUs.mean - leaderMean),
    overheadVsTwoHopsUs: {
      mean: round1(clientUs.mean - 2 * bareRep.mean),
      p50: round1(clientUs.p50 - 2 * bareRep.p50),
    },
    // The few stats and reset calls per block are negligible next to the writes.
    cpuUsPerWrite: {
      client: perWrite(a.ownS),
      leader: perWrite(a.leaderS),
      followers: perWrite(a.followersS),
      total: perWrite(a.ownS + a.leaderS + a.followersS),
    },
  };
}

/** The requests the benchmark times: a write to the leader, bare round trips to a follower and the leader. */
function createProbes(bc: BenchCluster) {
  const leaderPool = createPool(bc.leaderUrl, { connections: 1, timeoutMs: 10_000 });
  const followerPool = createPool(bc.followerUrls[0]!, { connections: 1, timeoutMs: 10_000 });
  let bareVersion = 0;
  let seq = 0;
  return {
    write: async (): Promise<void> => {
      const r = await postWrite(leaderPool, `key-${seq % 100}`, `value-${seq++}`, 10_000);
      if (!r.ok) throw new Error(`write failed: ${r.kind}${r.status ? ` ${r.status}` : ''}`);
    },
    replicate: async (): Promise<void> => {
      // A key of its own, so the benchmark's writes are untouched; every version is newer (applied).
      const res = await followerPool.request({
        method: 'POST',
        path: '/replicate',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'bench-bare', value: 'x'.repeat(16), version: ++bareVersion }),
      });
      await res.body.text();
    },
    followerHealth: () => bareGet(followerPool, '/health'),
    leaderHealth: () => bareGet(leaderPool, '/health'),
    close: () => Promise.allSettled([leaderPool.close(), followerPool.close()]),
  };
}

type Probes = ReturnType<typeof createProbes>;

interface BareSeries {
  followerHealth: number[];
  replicate: number[];
  leaderHealth: number[];
}

/** One block of one W: warm-up, a block of bare round trips, then the measured writes with the leader's stats and CPU. */
async function measureBlock(
  bc: BenchCluster,
  probes: Probes,
  w: number,
  opts: Required<NodeOverheadOptions>,
  bare: BareSeries,
  a: QuorumAcc,
): Promise<void> {
  await bc.setQuorum(w);
  await timed(Math.ceil(opts.warmupWrites / opts.rounds), probes.write);
  bare.followerHealth.push(...(await timed(opts.bareRequestsPerBlock, probes.followerHealth)));
  bare.replicate.push(...(await timed(opts.bareRequestsPerBlock, probes.replicate)));
  bare.leaderHealth.push(...(await timed(opts.bareRequestsPerBlock, probes.leaderHealth)));
  await bc.quiesceAndReset();
  const cpu0 = bc.cpuS();
  const own0 = ownCpuS();
  const lat = await timed(Math.ceil(opts.writesPerQuorum / opts.rounds), probes.write);
  const own = ownCpuS() - own0;
  await bc.quiesce(); // the replications still in flight after the last ack belong to this W
  const stats = await bc.leaderStats();
  addBlock(a, lat, stats, own, cpuDelta(cpu0, bc.cpuS()));
}

export async function run(options: NodeOverheadOptions = {}): Promise<NodeOverheadResult> {
  const opts: Required<NodeOverheadOptions> = {
    writesPerQuorum: options.writesPerQuorum ?? 3000,
    warmupWrites: options.warmupWrites ?? 300,
    bareRequestsPerBlock: options.bareRequestsPerBlock ?? 500,
    quorums: options.quorums ?? [1, 2, 3, 4, 5],
    rounds: options.rounds ?? 3,
  };
  const bc: BenchCluster = await startBenchCluster({ writeQuorum: 1, minDelayMs: 0, maxDelayMs: 0, delaySeed: 1 });
  const probes = createProbes(bc);
  const bare: BareSeries = { followerHealth: [], replicate: [], leaderHealth: [] };
  const acc = new Map(opts.quorums.map((w) => [w, emptyAcc()]));
  try {
    await timed(200, probes.followerHealth);
    await timed(200, probes.replicate);
    // Rounds over W, so a burst of load from other processes does not land on one W only.
    for (let round = 0; round < opts.rounds; round++) {
      for (const w of opts.quorums) await measureBlock(bc, probes, w, opts, bare, acc.get(w)!);
    }
  } finally {
    await probes.close();
    await bc.stop();
  }
  const bareRep = summarize(bare.replicate);
  return {
    options: opts,
    leaderPriority: bc.leaderPriority,
    bare: [
      { kind: 'GET /health (follower)', latencyUs: summarize(bare.followerHealth) },
      { kind: 'POST /replicate (follower)', latencyUs: bareRep },
      { kind: 'GET /health (leader)', latencyUs: summarize(bare.leaderHealth) },
    ],
    quorums: opts.quorums.map((w) => overheadOf(w, acc.get(w)!, bareRep)),
  };
}

export function format(r: NodeOverheadResult): string {
  const bare = formatTable(
    ['bare round trip', 'n', 'mean µs', 'p50 µs', 'p99 µs'],
    r.bare.map((b) => [b.kind, b.latencyUs.n, b.latencyUs.mean, b.latencyUs.p50, b.latencyUs.p99]),
  );
  const q = formatTable(
    [
      'W',
      'client mean µs',
      'p50',
      'p99',
      'leader-side mean',
      'client leg',
      'sched wait (0 delay)',
      '/replicate RTT',
      '− 2 bare hops (mean / p50)',
      'CPU µs/write: client',
      'leader',
      '5 followers',
    ],
    r.quorums.map((x) => [
      x.quorum,
      x.clientUs.mean,
      x.clientUs.p50,
      x.clientUs.p99,
      x.leaderMeanUs,
      x.clientLegUs,
      x.schedulerWaitMeanUs,
      x.replicateRttMeanUs,
      `${x.overheadVsTwoHopsUs.mean} / ${x.overheadVsTwoHopsUs.p50}`,
      x.cpuUsPerWrite.client,
      x.cpuUsPerWrite.leader,
      x.cpuUsPerWrite.followers,
    ]),
  );
  return `${bare}\n\n${q}\nleader priority: ${r.leaderPriority}`;
}
