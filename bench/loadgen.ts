/**
 * Benchmark 5 — load generator versus autocannon. The same endpoint (a real follower's
 * GET /read?key=k, a child process), the same number of keep-alive connections, the same fixed
 * duration, one after the other in this process, in the order harness, autocannon, autocannon,
 * harness so that a drift in machine load hits both alike.
 *
 * "Harness" is the harness's request engine as its clients use it: harness/http.ts createPool
 * (undici Pool, pipelining 1) and readKey (parses the reply's version), one closed loop per
 * connection, every latency recorded in µs into an HDR histogram (harness/histogram.ts).
 * autocannon records whole milliseconds. Target: harness rate ≥ 90 % of autocannon's.
 *
 * A third engine, "dispatch (proposed)", is the same closed loop with one undici `Client` per loop
 * (a closed-loop client never has more than one request in flight per node, so a Pool's queueing
 * buys nothing) and the lower-level `client.dispatch()` with a handler that collects the body (no
 * Readable stream, no promise chain per body): what harness/http.ts would cost if it worked that
 * way. It is reported, never used for the target.
 */
import { createRequire } from 'node:module';
import { Client, type Dispatcher } from 'undici';
import { createPool, postWrite, readKey } from '../harness/http.ts';
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
  engine: 'harness' | 'dispatch (proposed)' | 'autocannon';
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
  /** The proposed dispatch()-based engine's rate and its ratio to autocannon. */
  dispatchRps: number;
  dispatchRatio: number;
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
type Autocannon = (opts: { url: string; connections: number; duration: number; pipelining: number }) => Promise<AutocannonResult>;

const KEY = 'k';

/** GET /read through client.dispatch(): the body is collected from onData chunks and parsed once. */
function dispatchRead(client: Dispatcher, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let status = 0;
    const handler: Dispatcher.DispatchHandler = {
      onConnect() {},
      onHeaders(statusCode) {
        status = statusCode;
        return true;
      },
      onData(chunk) {
        chunks.push(chunk);
        return true;
      },
      onComplete() {
        if (status === 404) return resolve(0);
        try {
          const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
          const version = (JSON.parse(text) as { version?: unknown }).version;
          resolve(status === 200 && typeof version === 'number' ? version : -1);
        } catch {
          resolve(-1);
        }
      },
      onError: reject,
    };
    client.dispatch({ method: 'GET', path: `/read?key=${encodeURIComponent(key)}`, headersTimeout: 10_000, bodyTimeout: 10_000 }, handler);
  });
}

async function loopRun(engine: 'harness' | 'dispatch (proposed)', url: string, connections: number, durationS: number): Promise<Omit<LoadgenRun, 'followerCpuUsPerRequest'>> {
  const pool = createPool(url, { connections, timeoutMs: 10_000 });
  const clients = engine === 'harness' ? [] : Array.from({ length: connections }, () => new Client(url, { pipelining: 1, keepAliveTimeout: 30_000 }));
  const once =
    engine === 'harness'
      ? async (): Promise<boolean> => {
          const r = await readKey(pool, KEY, 10_000);
          return r.ok && r.version > 0;
        }
      : async (i: number): Promise<boolean> => (await dispatchRead(clients[i]!, KEY).catch(() => -1)) > 0;
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
      engine,
      requests,
      errors,
      wallS: round3(wallS),
      requestsPerSec: Math.round(requests / wallS),
      latency: { resolutionUs: 1, mean: st.mean, p50: st.p50, p99: st.p99, max: st.max },
      clientCpuUsPerRequest: round1((cpu * 1e6) / requests),
    };
  } finally {
    await Promise.all([pool.close(), ...clients.map((c) => c.close())]);
  }
}

async function autocannonRun(autocannon: Autocannon, url: string, connections: number, durationS: number): Promise<Omit<LoadgenRun, 'followerCpuUsPerRequest'>> {
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
    latency: { resolutionUs: 1000, mean: round1(r.latency.mean * 1000), p50: r.latency.p50 * 1000, p99: r.latency.p99 * 1000, max: r.latency.max * 1000 },
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
    const leader = createPool(bc.leaderUrl, { connections: 1, timeoutMs: 10_000 });
    const w = await postWrite(leader, KEY, 'v'.repeat(16), 10_000);
    await leader.close();
    if (!w.ok) throw new Error(`could not write the benchmark key: ${w.kind}`);
    const url = bc.followerUrls[0]!;
    // Short warm-up of both engines (JIT, connections), not recorded.
    await loopRun('harness', url, opts.connections, 0.5);
    await loopRun('dispatch (proposed)', url, opts.connections, 0.5);
    await autocannonRun(autocannon, url, opts.connections, 1);
    // Mirror order: a linear drift of the machine's load hits every engine alike.
    const order = ['harness', 'autocannon', 'dispatch (proposed)', 'dispatch (proposed)', 'autocannon', 'harness'] as const;
    for (const engine of order) {
      await sleep(200); // let the previous run's sockets close
      const f0 = bc.cpuS();
      const r = engine === 'autocannon' ? await autocannonRun(autocannon, url, opts.connections, opts.durationS) : await loopRun(engine, url, opts.connections, opts.durationS);
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
  const dispatchRps = Math.round(rate('dispatch (proposed)'));
  const ratio = round3(harnessRps / autocannonRps);
  return {
    options: opts,
    endpoint: 'follower GET /read?key=k',
    runs,
    harnessRps,
    autocannonRps,
    ratio,
    dispatchRps,
    dispatchRatio: round3(dispatchRps / autocannonRps),
    withinTarget: ratio >= opts.targetRatio,
  };
}

export function format(r: LoadgenResult): string {
  const t = formatTable(
    ['run', 'engine', 'requests', 'errors', 's', 'req/s', 'latency resolution', 'mean µs', 'p50 µs', 'p99 µs', 'max µs', 'client CPU µs/req', 'follower CPU µs/req'],
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
  return `${t}\n${r.options.connections} connections, ${r.options.durationS} s per run, ${r.endpoint}: harness ${r.harnessRps} req/s, autocannon ${r.autocannonRps} req/s, ratio ${(r.ratio * 100).toFixed(1)} %; proposed dispatch engine ${r.dispatchRps} req/s (${(r.dispatchRatio * 100).toFixed(1)} %)`;
}

export function verdict(r: LoadgenResult): string {
  return `target: harness ≥ ${r.options.targetRatio * 100} % of autocannon → ${r.withinTarget ? 'holds' : 'MISSED'} (${(r.ratio * 100).toFixed(1)} %)`;
}
