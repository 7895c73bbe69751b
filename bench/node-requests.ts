/**
 * Node CPU per request, isolated (issue 13): node processes started as nodes/cluster.ts starts them
 * (the bundled node program), hammered by undici over 10 keep-alive connections with one kind of
 * request at a time; CPU from /proc of the node process (its threads' schedstat, ns) ÷ requests, beside the reference server
 * (bench/reference-exchange.ts) measured in the same round. Rounds interleave every kind with the
 * reference, so a burst of foreign load lands on all of them; the figures are medians over rounds.
 *
 * Follower: GET /health, GET /read (plain, traced, and one request at a time), POST /replicate,
 * POST /replicate/batch with 1 and 5 entries. Leader (5 followers, default delays, W = 3): POST
 * /write, whose CPU is compared with 1 reference server + 5 reference client requests, and GET /read.
 * Then the same writes each followed by a read-back of all six nodes (the default experiment's
 * closed loop in miniature): the difference to writes alone is what a read-back costs in place,
 * which is what cpu-per-write's marginal figures contain, beside what the same read costs hammered.
 * Last, paced: one request at a time with the server asleep 5 ms before each, for the reference server
 * and a follower's GET /read alike: what waking a process costs, which the in-place figures pay often.
 *
 *   node --import tsx bench/node-requests.ts [--quick] [--requests N] [--rounds N] [--cpu-prof <dir>]
 * With --cpu-prof the lone follower and the leader's first follower run under `node --cpu-prof`.
 */
import { spawn } from 'node:child_process';
import { Pool } from 'undici';
import { ensureNodeBundle } from '../lib/node-bundle.mjs';
import { NODE_ENV_NAMES } from '../nodes/cluster.ts';
import { TRACE_HEADER } from '../contracts/trace.ts';
import { formatTable, processRunUs, round1, round2 } from './common.ts';
import { REFERENCE_REQUEST, hammer, startReferenceServer, type RequestSpec } from './reference-exchange.ts';

export interface NodeRequestsOptions {
  /** Measured requests per kind per round. Default 6000. */
  requests?: number;
  /** Unmeasured requests before each measurement. Default 1000. */
  warmup?: number;
  /** Rounds over all kinds (medians reported). Default 3. */
  rounds?: number;
  connections?: number;
  /** Directory for `--cpu-prof` output of the lone follower and the leader's first follower; unset = no profile. */
  cpuProfDir?: string;
}

export interface KindResult {
  kind: string;
  node: 'follower' | 'leader';
  /** Median over rounds of the node's CPU per request, µs. */
  nodeCpuUs: number;
  /** Median over rounds of nodeCpuUs ÷ that round's reference server CPU per request. */
  ratioToRefServer: number;
  /** Replication entries per request (batch kinds); per entry = nodeCpuUs / entries. */
  entries?: number;
  perRoundUs: number[];
}

export interface NodeRequestsResult {
  options: Required<Omit<NodeRequestsOptions, 'cpuProfDir'>>;
  reference: { serverCpuUs: number; clientCpuUs: number; perRoundServerUs: number[]; serverCpuUs1Connection: number };
  /** The leader's replication requests and engine-thread waits per write (all 5 followers), medians. */
  leaderEngine: { requestsPerWrite: number; waitsPerWrite: number };
  kinds: KindResult[];
  /** Leader CPU per write ÷ (1 reference server + 5 reference client requests), median over rounds. */
  leaderWritePerRefLeader: number;
  /** Each follower's CPU per write during the leader's writes (one replication entry per write), µs, median. */
  followerUsPerWriteEntry: number;
  /** The same writes each followed by a read-back of all six nodes: µs per write, medians. */
  withReadback: { leaderUs: number; followerUs: number };
  /**
   * One request at a time with the server asleep before each (PACED_GAP_MS idle): CPU per request of
   * the reference server and of a follower's GET /read, medians. The cost of waking a process.
   */
  paced: { gapMs: number; requests: number; refServerUs: number; followerReadUs: number };
}

interface NodeProc {
  pid: number;
  origin: string;
  /** SIGTERM, resolved once the process exited (a --cpu-prof profile is written by then). */
  stop(): Promise<void>;
}

/** Start one node process from the bundle with a clean node environment plus `env`. */
async function spawnNode(env: Record<string, string>, execArgv: string[] = []): Promise<NodeProc> {
  const base: Record<string, string | undefined> = { ...process.env };
  for (const name of NODE_ENV_NAMES) delete base[name];
  const child = spawn(process.execPath, [...execArgv, await ensureNodeBundle()], {
    env: { ...base, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (m: { cmd?: string; data?: { port: number } }) => {
      if (m.cmd === 'listening') resolve(m.data!.port);
      else if (m.cmd === 'error') reject(new Error(`node failed to start: ${JSON.stringify(m.data)}`));
    });
    child.once('exit', (code) => reject(new Error(`node exited (${code}) before listening`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!,
    origin: `http://127.0.0.1:${port}`,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const VALUE = JSON.stringify('v-0123456789abcdef');
const KEYS = 100;

/** Replication entries with ever-higher versions (every one applies), over KEYS keys. */
function createVersions(): (count: number) => string[] {
  let version = 0;
  return (count) =>
    Array.from({ length: count }, () => {
      version++;
      return `{"key":"k${version % KEYS}","value":${VALUE},"version":${version}}`;
    });
}

interface Kind {
  kind: string;
  spec: RequestSpec;
  entries?: number;
  /** Connections (one request in flight on each) when not the run's default. */
  connections?: number;
}

export function followerKinds(): Kind[] {
  const next = createVersions();
  const read: RequestSpec = { method: 'GET', path: '/read?key=k42' };
  return [
    {
      kind: 'POST /replicate',
      spec: { method: 'POST', path: '/replicate', body: () => next(1)[0]!, headers: JSON_HEADERS },
    },
    batchKind(next, 1),
    batchKind(next, 5),
    { kind: 'GET /health', spec: { method: 'GET', path: '/health' } },
    { kind: 'GET /read', spec: read },
    { kind: 'GET /read (traced)', spec: { ...read, headers: { [TRACE_HEADER]: '1' } } },
    // One request at a time: no two requests share an event-loop turn (closer to a follower's load in the experiment).
    { kind: 'GET /read, 1 connection', spec: read, connections: 1 },
  ];
}

function batchKind(next: (n: number) => string[], n: number): Kind {
  return {
    kind: `POST /replicate/batch (${n} ${n === 1 ? 'entry' : 'entries'})`,
    entries: n,
    spec: {
      method: 'POST',
      path: '/replicate/batch',
      body: () => `{"entries":[${next(n).join(',')}]}`,
      headers: JSON_HEADERS,
    } satisfies RequestSpec,
  };
}

export function leaderKinds(): Kind[] {
  return [
    {
      kind: 'POST /write (W=3)',
      spec: {
        method: 'POST',
        path: '/write',
        body: (seq) => `{"key":"k${seq % KEYS}","value":${VALUE}}`,
        headers: JSON_HEADERS,
      },
    },
    { kind: 'GET /read', spec: { method: 'GET', path: '/read?key=k42' } },
  ];
}

/** CPU of `pids` (summed per pid) and of this process over one hammered measurement, µs per request. */
export async function measure(
  pool: Pool,
  spec: RequestSpec,
  pids: number[],
  o: Required<Omit<NodeRequestsOptions, 'cpuProfDir'>>,
  connections = o.connections,
): Promise<{ pidUs: number[]; clientUs: number }> {
  await hammer(pool, spec, o.warmup, connections);
  const before = pids.map((p) => processRunUs(p) ?? 0);
  const own0 = process.cpuUsage();
  await hammer(pool, spec, o.requests, connections);
  const own = process.cpuUsage(own0);
  return {
    pidUs: pids.map((p, i) => ((processRunUs(p) ?? 0) - before[i]!) / o.requests),
    clientUs: (own.user + own.system) / o.requests,
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export type Opts = Required<Omit<NodeRequestsOptions, 'cpuProfDir'>>;

export interface Rig {
  ref: { pid: number; pool: Pool };
  follower: { pid: number; pool: Pool };
  leader: { pids: number[]; pool: Pool; replicaPools: Pool[] };
  stop(): Promise<void>;
}

/** The reference server, a lone follower, and a leader with 5 followers of its own. */
export async function startRig(o: Opts, cpuProfDir?: string, nodeArgs: string[] = []): Promise<Rig> {
  const stops: Array<() => Promise<void> | void> = [];
  const pools: Pool[] = [];
  const pool = (origin: string) => {
    const p = new Pool(origin, { connections: o.connections, pipelining: 1 });
    pools.push(p);
    return p;
  };
  const stop = async () => {
    await Promise.allSettled(pools.map((p) => p.close()));
    await Promise.allSettled(stops.map((s) => s()));
  };
  try {
    const ref = await startReferenceServer();
    stops.push(ref.stop);
    const prof = [...nodeArgs, ...(cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [])];
    const follower = await spawnNode({ ROLE: 'follower' }, prof);
    stops.push(follower.stop);
    // The leader's first follower is profiled too (its profile file is named by its pid).
    const replicas = await Promise.all(
      Array.from({ length: 5 }, (_, i) => spawnNode({ ROLE: 'follower' }, i === 0 ? prof : nodeArgs)),
    );
    stops.push(...replicas.map((r) => r.stop));
    const followers = replicas.map((r) => r.origin).join(',');
    const leader = await spawnNode({ ROLE: 'leader', FOLLOWERS: followers, WRITE_QUORUM: '3' }, nodeArgs);
    stops.push(leader.stop);
    return {
      ref: { pid: ref.pid, pool: pool(ref.origin) },
      follower: { pid: follower.pid, pool: pool(follower.origin) },
      leader: {
        pids: [leader.pid, ...replicas.map((r) => r.pid)],
        pool: pool(leader.origin),
        replicaPools: replicas.map((r) => pool(r.origin)),
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The experiment's closed loop in miniature: `count` writes over `connections` loops, each write
 * followed by one GET /read of its key from all six nodes (the default read-back), in parallel.
 */
export async function writesWithReadback(rig: Rig, count: number, connections: number): Promise<void> {
  const readers = [rig.leader.pool, ...rig.leader.replicaPools];
  let next = 0;
  const loop = async () => {
    while (next < count) {
      const key = `k${next++ % KEYS}`;
      const res = await rig.leader.pool.request({
        method: 'POST',
        path: '/write',
        body: `{"key":"${key}","value":${VALUE}}`,
        headers: JSON_HEADERS,
      });
      await res.body.text();
      await Promise.all(
        readers.map(async (p) => {
          const r = await p.request({ method: 'GET', path: `/read?key=${key}` });
          await r.body.text();
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
}

/** [leader µs, mean follower µs] per write of writesWithReadback. */
async function measureReadback(rig: Rig, o: Opts): Promise<[number, number]> {
  await writesWithReadback(rig, o.warmup, o.connections);
  const before = rig.leader.pids.map((p) => processRunUs(p) ?? 0);
  await writesWithReadback(rig, o.requests, o.connections);
  const us = rig.leader.pids.map((p, i) => ((processRunUs(p) ?? 0) - before[i]!) / o.requests);
  const f = us.slice(1);
  return [us[0]!, f.reduce((x, y) => x + y, 0) / f.length];
}

/** Requests and idle gap of the paced measurement: one request at a time, the server asleep before each. */
const PACED_REQUESTS = 300;
const PACED_GAP_MS = 5;

/** CPU of `pid` per request when each request wakes a server that slept PACED_GAP_MS since the last one. */
async function measurePaced(pool: Pool, spec: RequestSpec, pid: number): Promise<number> {
  const before = processRunUs(pid) ?? 0;
  for (let i = 0; i < PACED_REQUESTS; i++) {
    await hammer(pool, spec, 1, 1);
    await new Promise((r) => setTimeout(r, PACED_GAP_MS));
  }
  return ((processRunUs(pid) ?? 0) - before) / PACED_REQUESTS;
}

interface RoundSample {
  refServerUs: number;
  refClientUs: number;
  /** The reference server's CPU per request with 1 connection (no two requests in one loop turn). */
  refServer1Us: number;
  follower: number[];
  /** Per leader kind: [leader µs, mean follower µs]. */
  leader: Array<[number, number]>;
  /** Writes each followed by a read-back of all six nodes: [leader µs, mean follower µs] per write. */
  readback: [number, number];
  /** Paced (a sleeping server woken by each request): [reference server µs, follower GET /read µs]. */
  paced: [number, number];
  /** Leader's replication engine during its writes: requests and thread waits per write. */
  engine: { requestsPerWrite: number; waitsPerWrite: number };
}

interface EngineCounters {
  requests: number;
  entries: number;
  waits: number;
}

async function engineCounters(pool: Pool): Promise<EngineCounters> {
  const res = await pool.request({ method: 'GET', path: '/stats' });
  const body = (await res.body.json()) as { replication: { engine: EngineCounters } };
  return body.replication.engine;
}

async function oneRound(rig: Rig, o: Opts, fk: Kind[], lk: Kind[], round: number): Promise<RoundSample> {
  const ref = await measure(rig.ref.pool, REFERENCE_REQUEST, [rig.ref.pid], o);
  const ref1 = await measure(rig.ref.pool, REFERENCE_REQUEST, [rig.ref.pid], o, 1);
  // A different kind first in each round: the first measurement after a change of load reads high.
  const follower = new Array<number>(fk.length);
  for (let j = 0; j < fk.length; j++) {
    const i = (j + round) % fk.length;
    const k = fk[i]!;
    follower[i] = (await measure(rig.follower.pool, k.spec, [rig.follower.pid], o, k.connections)).pidUs[0]!;
  }
  const leader: Array<[number, number]> = [];
  let engine = { requestsPerWrite: NaN, waitsPerWrite: NaN };
  for (const [i, k] of lk.entries()) {
    const e0 = await engineCounters(rig.leader.pool);
    const m = await measure(rig.leader.pool, k.spec, rig.leader.pids, o, k.connections);
    const e1 = await engineCounters(rig.leader.pool);
    const writes = o.warmup + o.requests;
    if (i === 0)
      engine = {
        requestsPerWrite: (e1.requests - e0.requests) / writes,
        waitsPerWrite: (e1.waits - e0.waits) / writes,
      };
    const f = m.pidUs.slice(1);
    leader.push([m.pidUs[0]!, f.reduce((x, y) => x + y, 0) / f.length]);
  }
  const readback = await measureReadback(rig, o);
  const paced: [number, number] = [
    await measurePaced(rig.ref.pool, REFERENCE_REQUEST, rig.ref.pid),
    await measurePaced(rig.follower.pool, fk.find((k) => k.kind === 'GET /read')!.spec, rig.follower.pid),
  ];
  return {
    paced,
    refServerUs: ref.pidUs[0]!,
    refClientUs: ref.clientUs,
    refServer1Us: ref1.pidUs[0]!,
    follower,
    leader,
    engine,
    readback,
  };
}

function kindResult(
  kind: string,
  node: KindResult['node'],
  us: number[],
  refs: number[],
  entries?: number,
): KindResult {
  return {
    kind,
    node,
    nodeCpuUs: round1(median(us)),
    ratioToRefServer: round2(median(us.map((u, i) => u / refs[i]!))),
    ...(entries === undefined ? {} : { entries }),
    perRoundUs: us.map(round1),
  };
}

export async function run(options: NodeRequestsOptions = {}): Promise<NodeRequestsResult> {
  const o: Opts = {
    requests: options.requests ?? 6000,
    warmup: options.warmup ?? 1000,
    rounds: options.rounds ?? 3,
    connections: options.connections ?? 10,
  };
  const rig = await startRig(o, options.cpuProfDir);
  const fk = followerKinds();
  const lk = leaderKinds();
  const samples: RoundSample[] = [];
  try {
    for (let r = 0; r < o.rounds; r++) samples.push(await oneRound(rig, o, fk, lk, r));
  } finally {
    await rig.stop();
  }
  const refs = samples.map((s) => s.refServerUs);
  const kinds = [
    ...fk.map((k, i) =>
      kindResult(
        k.kind,
        'follower',
        samples.map((s) => s.follower[i]!),
        refs,
        k.entries,
      ),
    ),
    ...lk.map((k, i) =>
      kindResult(
        k.kind,
        'leader',
        samples.map((s) => s.leader[i]![0]),
        refs,
      ),
    ),
  ];
  return {
    options: o,
    reference: {
      serverCpuUs: round1(median(refs)),
      clientCpuUs: round1(median(samples.map((s) => s.refClientUs))),
      perRoundServerUs: refs.map(round1),
      serverCpuUs1Connection: round1(median(samples.map((s) => s.refServer1Us))),
    },
    leaderEngine: {
      requestsPerWrite: round2(median(samples.map((s) => s.engine.requestsPerWrite))),
      waitsPerWrite: round2(median(samples.map((s) => s.engine.waitsPerWrite))),
    },
    kinds,
    leaderWritePerRefLeader: round2(median(samples.map((s) => s.leader[0]![0] / (s.refServerUs + 5 * s.refClientUs)))),
    followerUsPerWriteEntry: round1(median(samples.map((s) => s.leader[0]![1]))),
    withReadback: {
      leaderUs: round1(median(samples.map((s) => s.readback[0]))),
      followerUs: round1(median(samples.map((s) => s.readback[1]))),
    },
    paced: {
      gapMs: PACED_GAP_MS,
      requests: PACED_REQUESTS,
      refServerUs: round1(median(samples.map((s) => s.paced[0]))),
      followerReadUs: round1(median(samples.map((s) => s.paced[1]))),
    },
  };
}

export function format(r: NodeRequestsResult): string {
  const rows = r.kinds.map((k) => [
    k.node,
    k.kind,
    k.nodeCpuUs,
    k.entries && k.entries > 1 ? round1(k.nodeCpuUs / k.entries) : '',
    k.ratioToRefServer,
    k.perRoundUs.join(' / '),
  ]);
  const table = formatTable(
    ['node', 'request', 'node CPU µs (median)', 'per entry', '÷ ref server', 'per round µs'],
    rows,
  );
  return (
    `${table}\nreference server ${r.reference.serverCpuUs} µs, client ${r.reference.clientCpuUs} µs per request ` +
    `(rounds: ${r.reference.perRoundServerUs.join(' / ')}); with 1 connection ${r.reference.serverCpuUs1Connection} µs\n` +
    `leader per write ÷ (1 server + 5 client reference requests): ${r.leaderWritePerRefLeader}; ` +
    `each follower per write entry during those writes: ${r.followerUsPerWriteEntry} µs; ` +
    `engine requests per write ${r.leaderEngine.requestsPerWrite}, thread waits per write ${r.leaderEngine.waitsPerWrite}\n` +
    `with a read-back of all six nodes after each write: leader ${r.withReadback.leaderUs} µs, ` +
    `each follower ${r.withReadback.followerUs} µs per write\n` +
    `paced (one request at a time, ${r.paced.gapMs} ms idle before each): reference server ` +
    `${r.paced.refServerUs} µs, follower GET /read ${r.paced.followerReadUs} µs per request`
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const flag = (name: string): string | undefined => {
    const at = args.indexOf(name);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const num = (name: string) => (flag(name) === undefined ? {} : { [name.slice(2)]: Number(flag(name)) });
  const result = await run({
    ...(quick ? { requests: 2000, warmup: 300, rounds: 1 } : {}),
    ...num('--requests'),
    ...num('--rounds'),
    ...(flag('--cpu-prof') === undefined ? {} : { cpuProfDir: flag('--cpu-prof') }),
  });
  process.stdout.write(`${format(result)}\n`);
}
