/**
 * Benchmark 1 — delay fidelity: realised − target of the precise scheduler versus setTimeout,
 * idle and while the process serves HTTP load, plus the CPU each strategy costs.
 *
 *   npx tsx bench/delay-fidelity.ts [--delays 20000] [--spin 150,300] [--rps 5000] [--quick]
 *
 * Prints a table and writes bench/results/delay-fidelity.json. `run()` returns the same object.
 *
 * Workload per scenario: `concurrency` independent chains; each schedules a delay drawn uniformly
 * from [minDelayUs, maxDelayUs], records it when it fires, waits ~1 ms (a setTimeout standing for
 * the HTTP round trip a leader does between delays) and schedules the next. With 50 chains this
 * keeps up to 50 delays pending, like a leader serving 10 clients × 5 followers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { hideBin } from 'yargs/helpers';
import { cliParser } from '../lib/cli.ts';
import type { AddressInfo } from 'node:net';
import {
  createDelayScheduler,
  DEFAULT_SPIN_US,
  type DelayScheduler,
  type PreciseDelayScheduler,
} from '../nodes/scheduler.ts';
import { createRng } from '../lib/rng.ts';
import { SPIN_DEFAULTS } from '../nodes/scheduler-spin.ts';
import { percentileSorted } from './common.ts';

export interface DelayFidelityOptions {
  /** Delays measured per strategy and scenario. Default 20 000. */
  delays?: number;
  /** Chains, i.e. delays pending at most at once. Default 50. */
  concurrency?: number;
  /** Target delay range, µs. Defaults 100 and 1000. */
  minDelayUs?: number;
  maxDelayUs?: number;
  /** Pause between a chain's delays, ms (a setTimeout). Default 1. */
  gapMs?: number;
  /** spinUs values of the precise strategy to measure ('auto' = adaptive). Default ['auto']. */
  spinUs?: Array<number | 'auto'>;
  /** maxSpinUs of the 'auto' variants, µs. Default: the scheduler's (1000). */
  maxSpinUs?: number;
  /** HTTP load of the 'load' scenario: request rate (req/s) and connections. Defaults 5000, 10. */
  loadRps?: number;
  loadConnections?: number;
  /** Delays in the 'sparse' scenario (one chain, 2 ms apart). Default 500; 0 skips it. */
  sparseDelays?: number;
  /** Rounds each scenario is split into, rotating the variants' order. Default 4. */
  rounds?: number;
  /** Seed of the delay sequence. Default 1. */
  seed?: number;
}

export interface ErrorSummary {
  /** realised − target, µs (negative = early). */
  errorUs: { min: number; p50: number; p99: number; max: number };
  /** |realised − target|, µs: what the targets (p50 ≤ 20, p99 ≤ 100) refer to. */
  absErrorUs: { p50: number; p90: number; p99: number; p999: number; max: number };
  early: number;
  /** Fires whose deadline was earlier than one already fired. */
  outOfOrder: number;
  /** Fraction of delays more than 100 µs late. */
  lateOver100Us: number;
}

export interface ScenarioResult extends ErrorSummary {
  scenario: 'idle' | 'load' | 'sparse';
  strategy: 'precise' | 'timeout';
  /** The spinUs option (null for setTimeout) and, for 'auto', the window it ended at (µs). */
  spinUs: number | 'auto' | null;
  finalSpinUs: number | null;
  delays: number;
  wallMs: number;
  delaysPerSec: number;
  /** Process CPU (user + system) / wall time, in cores. Includes serving the HTTP load. */
  cpuCores: number;
  /** Process CPU per delay, µs. */
  cpuUsPerDelay: number;
  /** 'load' only: requests/s the server actually answered while this strategy ran. */
  loadRps: number | null;
}

export interface DelayFidelityResult {
  benchmark: 'delay-fidelity';
  date: string;
  machine: { cpuModel: string; cores: number; platform: string; release: string };
  node: string;
  options: Required<DelayFidelityOptions>;
  /**
   * How quiet the machine was: other processes steal the CPU from any scheduler, so figures from
   * a busy machine are not the scheduler's. stallsPerSec: gaps > 100 µs seen by a bare spin loop.
   */
  environment: { before: EnvironmentProbe; after: EnvironmentProbe };
  /** CPU of an idle precise scheduler (created, nothing pending) over idleCheckMs, in cores. */
  idleCpuCores: number;
  idleCheckMs: number;
  results: ScenarioResult[];
}

const WARMUP_DELAYS = 500;

export interface EnvironmentProbe {
  loadavg1: number;
  /** Linux PSI: share of the last 10 s in which some runnable task waited for a CPU, %. */
  cpuPressureSome10: number | null;
  stallsOver100UsPerSec: number;
  maxStallUs: number;
}

function probeEnvironment(spinMs = 300): EnvironmentProbe {
  let cpuPressureSome10: number | null = null;
  try {
    const m = /some avg10=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    if (m) cpuPressureSome10 = Number(m[1]);
  } catch {
    // not Linux, or PSI disabled
  }
  const end = performance.now() + spinMs;
  let last = performance.now();
  let stalls = 0;
  let maxGap = 0;
  while (last < end) {
    const t = performance.now();
    const gap = t - last;
    if (gap > 0.1) stalls++;
    if (gap > maxGap) maxGap = gap;
    last = t;
  }
  return {
    loadavg1: loadavg()[0]!,
    cpuPressureSome10,
    stallsOver100UsPerSec: Math.round((stalls / spinMs) * 1000),
    maxStallUs: Math.round(maxGap * 1000),
  };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Run `count` delays over `concurrency` chains; resolves with realised − target of each. */
async function drive(
  scheduler: DelayScheduler,
  count: number,
  concurrency: number,
  nextDelayUs: () => number,
  gapMs: number,
): Promise<Omit<ErrorSummary, 'absErrorUs' | 'errorUs' | 'lateOver100Us'> & { errors: Float64Array }> {
  const errors = new Float64Array(count);
  let started = 0;
  let fired = 0;
  let early = 0;
  let outOfOrder = 0;
  let maxLowNs = 0;
  return new Promise((resolve) => {
    const startOne = (): void => {
      if (started >= count) return;
      started++;
      const targetUs = nextDelayUs();
      // The scheduler reads the clock inside schedule(), so its deadline lies in
      // [before + target, after + target]: a fire is provably out of order only if its latest
      // possible deadline precedes the earliest possible deadline of one fired before it.
      const targetNs = Math.ceil(targetUs * 1000);
      const lowNs = Number(process.hrtime.bigint()) + targetNs;
      scheduler.schedule(targetUs, (realisedUs) => {
        const err = realisedUs - targetUs;
        if (err < 0) early++;
        if (highNs < maxLowNs) outOfOrder++;
        if (lowNs > maxLowNs) maxLowNs = lowNs;
        errors[fired++] = err;
        if (fired === count) resolve({ errors, early, outOfOrder });
        else setTimeout(startOne, gapMs);
      });
      const highNs = Number(process.hrtime.bigint()) + targetNs;
    };
    for (let i = 0; i < concurrency; i++) startOne();
  });
}

function summarise(errors: Float64Array, early: number, outOfOrder: number): ErrorSummary {
  const signed = Array.from(errors).sort((a, b) => a - b);
  const abs = signed.map(Math.abs).sort((a, b) => a - b);
  return {
    errorUs: {
      min: round1(signed[0]!),
      p50: round1(percentileSorted(signed, 0.5)),
      p99: round1(percentileSorted(signed, 0.99)),
      max: round1(signed.at(-1)!),
    },
    absErrorUs: {
      p50: round1(percentileSorted(abs, 0.5)),
      p90: round1(percentileSorted(abs, 0.9)),
      p99: round1(percentileSorted(abs, 0.99)),
      p999: round1(percentileSorted(abs, 0.999)),
      max: round1(abs.at(-1)!),
    },
    early,
    outOfOrder,
    lateOver100Us: Math.round((signed.filter((e) => e > 100).length / signed.length) * 1e4) / 1e4,
  };
}

interface Variant {
  strategy: 'precise' | 'timeout';
  spinUs: number | 'auto' | null;
  scheduler: DelayScheduler;
}

interface Pass {
  errors: Float64Array;
  early: number;
  outOfOrder: number;
  cpuUs: number;
  wallUs: number;
  served: number;
}

/** One measured pass of `count` delays on a variant's (long-lived) scheduler. */
async function measurePass(
  variant: Variant,
  count: number,
  concurrency: number,
  gapMs: number,
  nextDelayUs: () => number,
  served: () => number,
): Promise<Pass> {
  // A short unrecorded lead-in: the chains reach their steady state before the clock starts.
  await drive(variant.scheduler, Math.min(WARMUP_DELAYS, Math.ceil(count / 5)), concurrency, nextDelayUs, gapMs);
  const served0 = served();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const { errors, early, outOfOrder } = await drive(variant.scheduler, count, concurrency, nextDelayUs, gapMs);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { errors, early, outOfOrder, cpuUs: cpu.user + cpu.system, wallUs, served: served() - served0 };
}

/**
 * Measure every variant in `rounds` rounds, rotating which goes first: machine noise (other
 * processes, JIT warm-up, the load generator ramping) then falls on every variant alike instead
 * of on whichever happened to run at a bad moment.
 */
async function measureScenario(
  variants: Variant[],
  scenario: ScenarioResult['scenario'],
  opts: Required<DelayFidelityOptions>,
  count: number,
  concurrency: number,
  gapMs: number,
  served: () => number,
): Promise<ScenarioResult[]> {
  const rng = createRng(opts.seed);
  const span = opts.maxDelayUs - opts.minDelayUs;
  const nextDelayUs = (): number => opts.minDelayUs + rng.next() * span;
  const rounds = opts.rounds;
  const perPass = Math.ceil(count / rounds);
  const passes: Pass[][] = variants.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (k + r) % variants.length;
      passes[i]!.push(await measurePass(variants[i]!, perPass, concurrency, gapMs, nextDelayUs, served));
    }
  }
  return variants.map((v, i) => {
    const ps = passes[i]!;
    const errors = new Float64Array(ps.reduce((n, p) => n + p.errors.length, 0));
    let offset = 0;
    for (const p of ps) {
      errors.set(p.errors, offset);
      offset += p.errors.length;
    }
    const sum = (f: (p: Pass) => number): number => ps.reduce((n, p) => n + f(p), 0);
    const wallUs = sum((p) => p.wallUs);
    const cpuUs = sum((p) => p.cpuUs);
    return {
      scenario,
      strategy: v.strategy,
      spinUs: v.spinUs,
      finalSpinUs: v.strategy === 'precise' ? (v.scheduler as PreciseDelayScheduler).spinUs : null,
      delays: errors.length,
      ...summarise(
        errors,
        sum((p) => p.early),
        sum((p) => p.outOfOrder),
      ),
      wallMs: Math.round(wallUs / 1000),
      delaysPerSec: Math.round((errors.length / wallUs) * 1e6),
      cpuCores: Math.round((cpuUs / wallUs) * 1000) / 1000,
      cpuUsPerDelay: round1(cpuUs / errors.length),
      loadRps: scenario === 'load' ? Math.round((sum((p) => p.served) / wallUs) * 1e6) : null,
    };
  });
}

/** A small JSON endpoint, so the event loop does the parsing and I/O a leader does. */
function startServer(): Promise<{ server: Server; url: string; served: () => number }> {
  let count = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: unknown = null;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
      } catch {
        body = null;
      }
      count++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ status: 'success', echo: body, n: count }));
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}`, served: () => count });
    });
  });
}

// The load runs in a child process so that process.cpuUsage() of this one counts only the
// server and the scheduler. Open loop at `rps`, at most 4 requests in flight per connection.
const LOAD_SCRIPT = `
const [undiciUrl, url, rpsArg, connsArg] = process.argv.slice(1);
const { Pool } = await import(undiciUrl);
const rps = Number(rpsArg), conns = Number(connsArg), maxInflight = conns * 4;
const pool = new Pool(url, { connections: conns });
const body = JSON.stringify({ key: 'k', value: 'x'.repeat(64) });
let issued = 0, done = 0, errors = 0, inflight = 0;
const t0 = performance.now();
const fire = () => {
  inflight++; issued++;
  pool.request({ path: '/write', method: 'POST', body, headers: { 'content-type': 'application/json' } })
    .then(async (r) => { await r.body.text(); done++; }, () => { errors++; })
    .finally(() => { inflight--; });
};
const timer = setInterval(() => {
  const planned = Math.floor(((performance.now() - t0) * rps) / 1000);
  // A backlog is dropped rather than fired in a burst: the rate stays smooth.
  if (planned - issued > maxInflight) issued = planned - maxInflight;
  while (issued < planned && inflight < maxInflight) fire();
}, 1);
process.on('message', () => {
  clearInterval(timer);
  process.send({ done, errors, elapsedMs: performance.now() - t0 }, () => pool.destroy().then(() => process.exit(0)));
});
process.send('ready');
`;

function startLoad(url: string, rps: number, connections: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', LOAD_SCRIPT, import.meta.resolve('undici'), url, String(rps), String(connections)],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`load generator exited early (code ${code})`)));
    child.once('message', () => resolve(child));
  });
}

function stopLoad(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.send('stop');
    // Bounded: a stuck generator is killed rather than hanging the benchmark.
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}

async function idleCpu(ms: number): Promise<number> {
  const scheduler = createDelayScheduler();
  await new Promise((r) => setTimeout(r, 100)); // helper thread start-up is not "idle"
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, ms));
  const cpu = process.cpuUsage(cpu0);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  await scheduler.close();
  return Math.round(((cpu.user + cpu.system) / wallUs) * 1000) / 1000;
}

export async function run(options: DelayFidelityOptions = {}): Promise<DelayFidelityResult> {
  const opts: Required<DelayFidelityOptions> = {
    delays: options.delays ?? 20_000,
    concurrency: options.concurrency ?? 50,
    minDelayUs: options.minDelayUs ?? 100,
    maxDelayUs: options.maxDelayUs ?? 1000,
    gapMs: options.gapMs ?? 1,
    spinUs: options.spinUs ?? [DEFAULT_SPIN_US],
    maxSpinUs: options.maxSpinUs ?? SPIN_DEFAULTS.maxUs,
    loadRps: options.loadRps ?? 5000,
    loadConnections: options.loadConnections ?? 10,
    sparseDelays: options.sparseDelays ?? 500,
    rounds: options.rounds ?? 4,
    seed: options.seed ?? 1,
  };
  // One scheduler per variant for the whole run (idle ones cost nothing, which this also shows).
  const variants: Variant[] = [
    ...opts.spinUs.map((spinUs) => ({
      strategy: 'precise' as const,
      spinUs,
      scheduler: createDelayScheduler({ strategy: 'precise', spinUs, maxSpinUs: opts.maxSpinUs }),
    })),
    { strategy: 'timeout', spinUs: null, scheduler: createDelayScheduler({ strategy: 'timeout' }) },
  ];
  const results: ScenarioResult[] = [];
  const before = probeEnvironment();
  const idleCheckMs = 500;
  let idleCpuCores = NaN;
  try {
    idleCpuCores = await idleCpu(idleCheckMs);
    results.push(
      ...(await measureScenario(variants, 'idle', opts, opts.delays, opts.concurrency, opts.gapMs, () => 0)),
    );

    const { server, url, served } = await startServer();
    try {
      const load = await startLoad(url, opts.loadRps, opts.loadConnections);
      try {
        await new Promise((r) => setTimeout(r, 500)); // let connections open and the rate settle
        results.push(
          ...(await measureScenario(variants, 'load', opts, opts.delays, opts.concurrency, opts.gapMs, served)),
        );
      } finally {
        await stopLoad(load);
      }
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }

    if (opts.sparseDelays > 0) {
      results.push(...(await measureScenario(variants, 'sparse', opts, opts.sparseDelays, 1, 2, () => 0)));
    }
  } finally {
    await Promise.all(variants.map((v) => v.scheduler.close()));
  }

  const after = probeEnvironment();
  const cpu = cpus();
  return {
    benchmark: 'delay-fidelity',
    date: new Date().toISOString(),
    machine: { cpuModel: cpu[0]?.model ?? 'unknown', cores: cpu.length, platform: platform(), release: release() },
    node: process.version,
    options: opts,
    environment: { before, after },
    idleCpuCores,
    idleCheckMs,
    results,
  };
}

export function formatTable(result: DelayFidelityResult): string {
  const head = [
    'scenario',
    'strategy',
    'p50 |err| µs',
    'p99 |err| µs',
    'max µs',
    'early',
    'out of order',
    '>100µs late',
    'delays/s',
    'CPU cores',
    'CPU µs/delay',
    'load req/s',
  ];
  const rows = result.results.map((r) => [
    r.scenario,
    r.strategy === 'precise'
      ? r.spinUs === 'auto'
        ? `precise (auto→${Math.round(r.finalSpinUs ?? 0)} µs)`
        : `precise (spin ${r.spinUs} µs)`
      : 'setTimeout',
    String(r.absErrorUs.p50),
    String(r.absErrorUs.p99),
    String(r.absErrorUs.max),
    String(r.early),
    String(r.outOfOrder),
    `${(r.lateOver100Us * 100).toFixed(1)}%`,
    String(r.delaysPerSec),
    r.cpuCores.toFixed(2),
    String(r.cpuUsPerDelay),
    r.loadRps === null ? '' : String(r.loadRps),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const env = result.environment;
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    `delay fidelity — ${result.machine.cpuModel} × ${result.machine.cores}, node ${result.node}, ${result.date}`,
    `targets ${result.options.minDelayUs}–${result.options.maxDelayUs} µs, ${result.options.concurrency} chains (sparse: 1), idle precise scheduler CPU ${result.idleCpuCores} cores`,
    `machine noise (before/after): load ${env.before.loadavg1.toFixed(2)}/${env.after.loadavg1.toFixed(2)}, CPU pressure ${env.before.cpuPressureSome10 ?? '?'}%/${env.after.cpuPressureSome10 ?? '?'}%, bare spin loop stalls >100 µs ${env.before.stallsOver100UsPerSec}/s / ${env.after.stallsOver100UsPerSec}/s`,
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const values = cliParser(
    'delay-fidelity',
    'npx tsx bench/delay-fidelity.ts',
    '$0 [options]\n\nRealised − target delay of the schedulers, idle and under load (also `npm run bench -- delay-fidelity`).',
    hideBin(process.argv),
  )
    .option('delays', { type: 'string', describe: 'delays per scenario' })
    .option('spin', { type: 'string', describe: 'spin windows to try, µs (comma list, or auto)' })
    .option('max-spin', { type: 'string', describe: 'largest spin window, µs' })
    .option('gap', { type: 'string', describe: 'gap between delays, ms' })
    .option('rps', { type: 'string', describe: 'background load, requests/s' })
    .option('quick', {
      type: 'boolean',
      default: false,
      describe: 'smaller counts; written to a temporary folder unless --out',
    })
    .option('out', { type: 'string', describe: 'result file', defaultDescription: 'bench/results/delay-fidelity.json' })
    .parseSync();
  const result = await run({
    delays: values.delays ? Number(values.delays) : values.quick ? 3000 : undefined,
    spinUs: values.spin ? values.spin.split(',').map((v) => (v === 'auto' ? 'auto' : Number(v))) : undefined,
    loadRps: values.rps ? Number(values.rps) : undefined,
    maxSpinUs: values['max-spin'] ? Number(values['max-spin']) : undefined,
    gapMs: values.gap ? Number(values.gap) : undefined,
    sparseDelays: values.quick ? 200 : undefined,
  });
  console.log(formatTable(result));
  const out =
    values.out ??
    (values.quick
      ? join(mkdtempSync(join(tmpdir(), 'quorum-lab-bench-quick-')), 'delay-fidelity.json')
      : fileURLToPath(new URL('./results/delay-fidelity.json', import.meta.url)));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
