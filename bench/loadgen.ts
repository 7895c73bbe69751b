/**
 * Benchmark 5 — load generator versus autocannon. The same endpoint (a real follower's
 * GET /read?key=k, a child process), the same number of keep-alive connections, the same fixed
 * duration, one after the other in this process, in the order harness, autocannon, autocannon,
 * harness so that a drift in machine load hits both alike.
 *
 * "Harness" is the harness's request engine exactly as its clients (harness/client.ts) use it:
 * one keep-alive connection per closed loop from harness/fast-client.ts createConnections (an
 * undici Client driven with dispatch()), and harness/http.ts readKey (explicit timeouts, whole body
 * read, the reply's version parsed), every latency recorded in µs into an HDR histogram
 * (harness/histogram.ts). autocannon records whole milliseconds. Target: harness rate ≥ 90 % of
 * autocannon's.
 */
import { createRequire } from 'node:module';
import { closeAll, createConnection, createConnections } from '../harness/fast-client.ts';
import { postWrite, readKey } from '../harness/http.ts';
import { createHistogram, histogramStats, recordUs, type HistogramStats } from '../harness/histogram.ts';
import { cpuDelta, startBenchCluster } from './cluster.ts';
import { formatTable, ownCpuS, round1, round3, sleep } from './common.ts';

export interface LoadgenOptions {
  /** Seconds per run. Default 5. */
  durationS?: number;
  /** Keep-alive connections (= concurrent requests). Default 10. */
  connections?: number;
  /** Target: harness ≥ this fraction of autocannon's rate. Default 0.9. */
  targetRatio?: number;
}

export interface LoadgenRun {
  engine: 'harness' | 'autocannon';
  requests: number;
  errors: number;
  wallS: number;
  requestsPerSec: number;
  /** Latency as the engine records it: the harness in µs, autocannon in ms (shown here in µs). */
  latency: { resolutionUs: number; mean: number; p50: number; p99: number; max: number };
  /** CPU µs per request of this process (the load generator) and of the follower. */
  clientCpuUsPerRequest: number;
  followerCpuUsPerRequest: number;
}

export interface LoadgenResult {
  options: Required<LoadgenOptions>;
  endpoint: string;
  runs: LoadgenRun[];
  harnessRps: number;
  autocannonRps: number;
  ratio: number;
  withinTarget: boolean;
}

interface AutocannonResult {
  requests: { total: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  latency: { mean: number; p50: number; p99: number; max: number };
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  pipelining: number;
}) => Promise<AutocannonResult>;

const KEY = 'k';

async function loopRun(
  url: string,
  connections: number,
  durationS: number,
): Promise<Omit<LoadgenRun, 'followerCpuUsPerRequest'>> {
  const conns = createConnections(url, connections, { timeoutMs: 10_000 });
  const once = async (i: number): Promise<boolean> => {
    const r = await readKey(conns[i]!, KEY, 10_000);
    return r.ok && (r.version ?? 0) > 0;
  };
  const hist = createHistogram();
  let requests = 0;
  let errors = 0;
  try {
    const cpu0 = ownCpuS();
    const t0 = performance.now();
    const end = t0 + durationS * 1000;
    const loop = async (_: unknown, i: number): Promise<void> => {
      while (performance.now() < end) {
        const s = performance.now();
        if (await once(i)) {
          recordUs(hist, (performance.now() - s) * 1000);
          requests++;
        } else errors++;
      }
    };
    await Promise.all(Array.from({ length: connections }, loop));
    const wallS = (performance.now() - t0) / 1000;
    const cpu = ownCpuS() - cpu0;
    const st: HistogramStats = histogramStats(hist);
    return {
      engine: 'harness',
      requests,
      errors,
      wallS: round3(wallS),
      requestsPerSec: Math.round(requests / wallS),
      latency: { resolutionUs: 1, mean: st.mean, p50: st.p50, p99: st.p99, max: st.max },
      clientCpuUsPerRequest: round1((cpu * 1e6) / requests),
    };
  } finally {
    await closeAll(conns);
  }
}

async function autocannonRun(
  autocannon: Autocannon,
  url: string,
  connections: number,
  durationS: number,
): Promise<Omit<LoadgenRun, 'followerCpuUsPerRequest'>> {
  const cpu0 = ownCpuS();
  const t0 = performance.now();
  const r = await autocannon({ url: `${url}/read?key=${KEY}`, connections, duration: durationS, pipelining: 1 });
  const wallS = (performance.now() - t0) / 1000;
  const cpu = ownCpuS() - cpu0;
  // autocannon's total counts every completed response; its own duration excludes set-up.
  const requests = r.requests.total;
  const runS = r.duration > 0 ? r.duration : wallS;
  return {
    engine: 'autocannon',
    requests,
    errors: r.errors + r.timeouts + r.non2xx,
    wallS: round3(runS),
    requestsPerSec: Math.round(requests / runS),
    latency: {
      resolutionUs: 1000,
      mean: round1(r.latency.mean * 1000),
      p50: r.latency.p50 * 1000,
      p99: r.latency.p99 * 1000,
      max: r.latency.max * 1000,
    },
    clientCpuUsPerRequest: round1((cpu * 1e6) / requests),
  };
}

export async function run(options: LoadgenOptions = {}): Promise<LoadgenResult> {
  const opts: Required<LoadgenOptions> = {
    durationS: options.durationS ?? 5,
    connections: options.connections ?? 10,
    targetRatio: options.targetRatio ?? 0.9,
  };
  // autocannon ships no types; only the call above is used.
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const bc = await startBenchCluster({ writeQuorum: 1, followers: 1, minDelayMs: 0, maxDelayMs: 0, delaySeed: 1 });
  const runs: LoadgenRun[] = [];
  try {
    const leader = createConnection(bc.leaderUrl, { timeoutMs: 10_000 });
    const w = await postWrite(leader, KEY, 'v'.repeat(16), 10_000);
    await leader.close();
    if (!w.ok) throw new Error(`could not write the benchmark key: ${w.kind}`);
    const url = bc.followerUrls[0]!;
    // Short warm-up of both engines (JIT, connections), not recorded.
    await loopRun(url, opts.connections, 0.5);
    await autocannonRun(autocannon, url, opts.connections, 1);
    // Mirror order: a linear drift of the machine's load hits every engine alike.
    const order = ['harness', 'autocannon', 'autocannon', 'harness'] as const;
    for (const engine of order) {
      await sleep(200); // let the previous run's sockets close
      const f0 = bc.cpuS();
      const r =
        engine === 'autocannon'
          ? await autocannonRun(autocannon, url, opts.connections, opts.durationS)
          : await loopRun(url, opts.connections, opts.durationS);
      const f = cpuDelta(f0, bc.cpuS());
      runs.push({ ...r, followerCpuUsPerRequest: round1((f.followersS * 1e6) / r.requests) });
    }
  } finally {
    await bc.stop();
  }
  const rate = (e: LoadgenRun['engine']): number => {
    const rs = runs.filter((r) => r.engine === e);
    return rs.reduce((a, r) => a + r.requests, 0) / rs.reduce((a, r) => a + r.wallS, 0);
  };
  const harnessRps = Math.round(rate('harness'));
  const autocannonRps = Math.round(rate('autocannon'));
  const ratio = round3(harnessRps / autocannonRps);
  return {
    options: opts,
    endpoint: 'follower GET /read?key=k',
    runs,
    harnessRps,
    autocannonRps,
    ratio,
    withinTarget: ratio >= opts.targetRatio,
  };
}

export function format(r: LoadgenResult): string {
  const t = formatTable(
    [
      'run',
      'engine',
      'requests',
      'errors',
      's',
      'req/s',
      'latency resolution',
      'mean µs',
      'p50 µs',
      'p99 µs',
      'max µs',
      'client CPU µs/req',
      'follower CPU µs/req',
    ],
    r.runs.map((x, i) => [
      i + 1,
      x.engine,
      x.requests,
      x.errors,
      x.wallS,
      x.requestsPerSec,
      x.latency.resolutionUs === 1 ? '1 µs' : '1 ms',
      x.latency.mean,
      x.latency.p50,
      x.latency.p99,
      x.latency.max,
      x.clientCpuUsPerRequest,
      x.followerCpuUsPerRequest,
    ]),
  );
  return `${t}\n${r.options.connections} connections, ${r.options.durationS} s per run, ${r.endpoint}: harness ${r.harnessRps} req/s, autocannon ${r.autocannonRps} req/s, ratio ${(r.ratio * 100).toFixed(1)} %`;
}

export function verdict(r: LoadgenResult): string {
  return `target: harness ≥ ${r.options.targetRatio * 100} % of autocannon → ${r.withinTarget ? 'holds' : 'MISSED'} (${(r.ratio * 100).toFixed(1)} %)`;
}
