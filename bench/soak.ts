/**
 * Benchmark 7 — soak: a bounded run at a sustainable rate with a follower restarted at fixed
 * intervals (issue 5: "no crash, memory (RSS) stops growing, zero lost writes").
 *
 * One runExperiment: a single quorum (W = 3), open-loop `rate` writes/s for `durationS` seconds
 * (writes = rate × durationS), read-back 5 %, analysis off, and `restart:followerN@Ts` every
 * `restartEveryS` seconds, cycling follower1..5. Meanwhile the RSS (/proc/<pid>/status VmRSS) of
 * the leader, each follower and the harness process is sampled every second. The launcher updates
 * the target's `pids` in place when it restarts a follower, so each sample re-reads it. Crashes are
 * caught with the launcher's onUnexpectedExit (a fault's own kill does not fire it).
 *
 * Reported: writes attempted / ok / errors by kind, achieved vs target rate, lost and
 * unknown-outcome writes (nothing-lost checker), convergence, catch-up ms per restart, leader RSS
 * every 10 s of the load and its growth over the last 30 s.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { StartCluster } from '../harness/cluster-target.ts';
import { runExperiment } from '../harness/experiment.ts';
import type { AvailabilityWindow } from '../harness/results.ts';
import { startCluster, type NodeExit } from '../nodes/cluster.ts';
import { formatTable, mean, round1, round2 } from './common.ts';

export interface SoakOptions {
  /** Measured load, seconds. Default 60 (quick: 15). */
  durationS?: number;
  /** Target writes/s (open loop). Default 1800: ~60 % of W=3's zero-read-back throughput (2936/s, BENCHMARKS.md §4). */
  rate?: number;
  /** A follower is restarted every this many seconds of the load. Default 10 (quick: 5). */
  restartEveryS?: number;
  quorum?: number;
  clients?: number;
  readback?: number;
  /** RSS sampling interval, ms. Default 1000. */
  sampleMs?: number;
  /** Leader RSS may grow at most this much over the last 30 s (or the last half of a shorter run) to count as flat. Default 10 MiB. */
  flatToleranceMiB?: number;
  quick?: boolean;
}

export interface RssSample {
  /** Seconds since the measured load started (negative: start-up and warm-up). */
  t: number;
  leaderMiB: number | null;
  followersMiB: (number | null)[];
  harnessMiB: number;
}

export interface RestartRecord {
  spec: string;
  follower: string;
  atS: number;
  /** Kill + start until the new process answered /health, ms. */
  commandMs: number | null;
  /** From then until the leader counted it up again (caught up by snapshot), ms. */
  catchUpMs: number | null;
  error: string | null;
}

export interface SoakResult {
  options: Required<Omit<SoakOptions, 'quick'>> & { quick: boolean; writes: number; faults: string[] };
  wallS: number;
  loadS: number;
  targetRate: number;
  achievedRate: number;
  attempted: number;
  ok: number;
  errors: Record<string, number>;
  availability: Array<
    Pick<AvailabilityWindow, 'window' | 'attempted' | 'ok' | 'availability'> & {
      errors: Record<string, number>;
      p50Us: number;
      p99Us: number;
      maxUs: number;
    }
  >;
  latencyUs: { p50: number; p99: number; p999: number; max: number };
  sendLagUs: { p50: number; p99: number; max: number } | null;
  lostWrites: number;
  unknownOutcome: number;
  checkedKeys: number;
  converged: boolean;
  convergenceWaitedMs: number;
  healed: boolean | null;
  faultWindowMs: number | null;
  notFired: string[];
  restarts: RestartRecord[];
  /** Nodes that exited on their own (crashes); must be empty. */
  unexpectedExits: NodeExit[];
  warnings: string[];
  /** Leader RSS at 0, 10, 20, ... s of the load (nearest sample), MiB. */
  leaderRssEvery10s: Array<{ t: number; MiB: number | null }>;
  leaderRss: {
    startMiB: number | null;
    peakMiB: number | null;
    endMiB: number | null;
    growthLastWindowMiB: number | null;
    windowS: number;
  };
  harnessRss: {
    startMiB: number | null;
    peakMiB: number | null;
    endMiB: number | null;
    growthLastWindowMiB: number | null;
  };
  /** Peak RSS per follower slot (over all its incarnations), MiB. */
  followersPeakMiB: (number | null)[];
  memoryFlat: boolean;
  samples: RssSample[];
  /** No crash, nothing lost, converged, memory flat. */
  passed: boolean;
}

/** VmRSS of a process in MiB, or null once it is gone. */
export function rssMiB(pid: number | 'self'): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round1(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** Mean of a series over samples with t in [from, to]; null when none. */
function meanOver(
  samples: RssSample[],
  pick: (s: RssSample) => number | null,
  from: number,
  to: number,
): number | null {
  const xs = samples
    .filter((s) => s.t >= from && s.t <= to)
    .map(pick)
    .filter((x): x is number => x !== null);
  return xs.length ? round1(mean(xs)) : null;
}

/** The value of the sample nearest to t (within 1.5 s) that has one. */
function nearest(samples: RssSample[], pick: (s: RssSample) => number | null, t: number): number | null {
  let best: RssSample | undefined;
  for (const s of samples) if (pick(s) !== null && (!best || Math.abs(s.t - t) < Math.abs(best.t - t))) best = s;
  return best && Math.abs(best.t - t) <= 1.5 ? pick(best) : null;
}

/** The last value a series has (a sample taken as the cluster stops has none). */
function last(samples: RssSample[], pick: (s: RssSample) => number | null): number | null {
  for (let i = samples.length - 1; i >= 0; i--) {
    const v = pick(samples[i]!);
    if (v !== null) return v;
  }
  return null;
}

function peak(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? Math.max(...v) : null;
}

type SoakSettings = Required<Omit<SoakOptions, 'quick'>>;
type QuorumOutcome = Awaited<ReturnType<typeof runExperiment>>['results'][number];

function settingsOf(options: SoakOptions, quick: boolean): SoakSettings {
  return {
    durationS: options.durationS ?? (quick ? 15 : 60),
    rate: options.rate ?? 1800,
    restartEveryS: options.restartEveryS ?? (quick ? 5 : 10),
    quorum: options.quorum ?? 3,
    clients: options.clients ?? 16,
    readback: options.readback ?? 0.05,
    sampleMs: options.sampleMs ?? 1000,
    flatToleranceMiB: options.flatToleranceMiB ?? 10,
  };
}

/** `restart:followerN@Ts` every restartEveryS seconds of the load, cycling follower1..5. */
function restartFaults(o: SoakSettings): string[] {
  const faults: string[] = [];
  for (let t = o.restartEveryS, i = 0; t < o.durationS; t += o.restartEveryS, i++)
    faults.push(`restart:follower${(i % 5) + 1}@${t}s`);
  return faults;
}

/** The RSS figures of the measured load: the leader's every 10 s, growth over the last window, peaks. */
function rssSummary(samples: RssSample[], q: QuorumOutcome, o: SoakSettings) {
  // The RSS figures are over the measured load only.
  const load = samples.filter((s) => s.t >= 0 && s.t <= q.durationS + 0.5);
  const end = round2(q.durationS);
  const windowS = Math.min(30, Math.floor(end / 2));
  const growth = (pick: (s: RssSample) => number | null): number | null => {
    const a = meanOver(load, pick, end - windowS - 2.5, end - windowS + 2.5);
    const b = meanOver(load, pick, end - 5, end);
    return a === null || b === null ? null : round1(b - a);
  };
  const leaderGrowth = growth((s) => s.leaderMiB);
  const leaderRssEvery10s: SoakResult['leaderRssEvery10s'] = [];
  for (let t = 0; t <= end + 0.01; t += 10) leaderRssEvery10s.push({ t, MiB: nearest(load, (s) => s.leaderMiB, t) });
  const slots = Math.max(0, ...load.map((s) => s.followersMiB.length));
  return {
    leaderRssEvery10s,
    leaderRss: {
      startMiB: load.find((s) => s.leaderMiB !== null)?.leaderMiB ?? null,
      peakMiB: peak(load.map((s) => s.leaderMiB)),
      endMiB: last(load, (s) => s.leaderMiB),
      growthLastWindowMiB: leaderGrowth,
      windowS,
    },
    harnessRss: {
      startMiB: load[0]?.harnessMiB ?? null,
      peakMiB: peak(samples.map((s) => s.harnessMiB)),
      endMiB: last(load, (s) => s.harnessMiB),
      growthLastWindowMiB: growth((s) => s.harnessMiB),
    },
    followersPeakMiB: Array.from({ length: slots }, (_, i) => peak(load.map((s) => s.followersMiB[i] ?? null))),
    memoryFlat: leaderGrowth !== null && leaderGrowth <= o.flatToleranceMiB,
  };
}

/** Writes, errors, latency and availability of the one quorum. */
function loadFigures(q: QuorumOutcome) {
  const all = q.availability.find((w) => w.window === 'all');
  const errors = { ...q.errors } as Record<string, number>;
  return {
    achievedRate: Math.round(q.achievedRate),
    attempted: all?.attempted ?? q.ok + Object.values(errors).reduce((a, b) => a + b, 0),
    ok: q.ok,
    errors,
    availability: q.availability.map((w) => ({
      window: w.window,
      attempted: w.attempted,
      ok: w.ok,
      availability: w.availability,
      errors: Object.fromEntries(Object.entries(w.errors).filter(([, n]) => n > 0)),
      p50Us: w.latency.p50,
      p99Us: w.latency.p99,
      maxUs: w.latency.max,
    })),
    latencyUs: { p50: q.latencyStats.p50, p99: q.latencyStats.p99, p999: q.latencyStats.p999, max: q.latencyStats.max },
    sendLagUs: q.sendLagStats ? { p50: q.sendLagStats.p50, p99: q.sendLagStats.p99, max: q.sendLagStats.max } : null,
  };
}

/** Lost writes, convergence, healing and each restart's catch-up. */
function safetyFigures(q: QuorumOutcome) {
  const restarts: RestartRecord[] = (q.faults?.records ?? [])
    .filter((rec) => rec.command === 'restart')
    .map((rec) => ({
      spec: rec.spec,
      follower: rec.follower,
      atS: round2(rec.atMs / 1000),
      commandMs: rec.commandMs,
      catchUpMs: rec.catchUpMs,
      error: rec.error,
    }));
  return {
    lostWrites: q.lostWrites.lost,
    unknownOutcome: q.lostWrites.unknownOutcome,
    checkedKeys: q.lostWrites.checkedKeys,
    converged: q.convergence.converged,
    convergenceWaitedMs: q.convergence.waitedMs,
    healed: q.faults?.healed ?? null,
    faultWindowMs: q.faults?.faultWindowMs ?? null,
    notFired: q.faults?.notFired ?? [],
    restarts,
  };
}

/** RSS of the leader, each follower and this process, sampled every sampleMs until stop(). */
function createRssSampler(sampleMs: number) {
  const samples: RssSample[] = [];
  const t0 = performance.now();
  let pids: number[] | null = null;
  // Times are taken relative to t0 and shifted to the load's start once it is known.
  const sample = (): void => {
    samples.push({
      t: (performance.now() - t0) / 1000,
      leaderMiB: pids ? rssMiB(pids[0]!) : null,
      followersMiB: pids ? pids.slice(1).map((p) => rssMiB(p)) : [],
      harnessMiB: rssMiB('self') ?? round1(process.memoryUsage().rss / 2 ** 20),
    });
  };
  const timer = setInterval(sample, sampleMs);
  return {
    samples,
    t0,
    /** The launcher's array itself: restarted followers' new pids show up in it. */
    watch(target: number[]) {
      pids = target;
    },
    stop: () => clearInterval(timer),
  };
}

export async function run(options: SoakOptions = {}): Promise<SoakResult> {
  const quick = options.quick ?? false;
  const o = settingsOf(options, quick);
  const writes = Math.round(o.rate * o.durationS);
  const faults = restartFaults(o);
  const dir = mkdtempSync(join(tmpdir(), 'quorum-lab-soak-'));
  const exits: NodeExit[] = [];
  const warnings: string[] = [];
  let loadStartAt: number | null = null;
  const rss = createRssSampler(o.sampleMs);
  const launch: StartCluster = async (opts) => {
    const c = await startCluster(opts);
    c.onUnexpectedExit((e) => exits.push(e));
    return c;
  };
  try {
    const r = await runExperiment(
      {
        quorums: [o.quorum],
        writes,
        rate: o.rate,
        clients: o.clients,
        readback: o.readback,
        fault: faults,
        analyze: false,
        progress: false,
        out: join(dir, 'run'),
      },
      {
        startCluster: launch,
        onCluster: (target) => rss.watch(target.pids),
        onProgress: (p) => {
          if (p.phase === 'measure' && loadStartAt === null) loadStartAt = performance.now() - p.elapsedMs;
        },
        onWarning: (m) => warnings.push(m),
      },
    );
    rss.stop();
    const q = r.results[0];
    if (!q) throw new Error('soak: the experiment returned no quorum result');
    const shiftS = ((loadStartAt ?? rss.t0) - rss.t0) / 1000;
    for (const s of rss.samples) s.t = round1(s.t - shiftS);
    const memory = rssSummary(rss.samples, q, o);
    const safety = safetyFigures(q);
    const result: SoakResult = {
      options: { ...o, quick, writes, faults },
      wallS: round2(r.wallMs / 1000),
      loadS: round2(q.durationS),
      targetRate: o.rate,
      ...loadFigures(q),
      ...safety,
      unexpectedExits: exits,
      warnings,
      ...memory,
      samples: rss.samples,
      passed: false,
    };
    result.passed =
      exits.length === 0 &&
      safety.lostWrites === 0 &&
      safety.converged &&
      memory.memoryFlat &&
      safety.healed !== false &&
      safety.restarts.every((x) => x.error === null);
    return result;
  } finally {
    rss.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function format(r: SoakResult): string {
  const errs =
    Object.entries(r.errors)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  const head = formatTable(
    [
      'W',
      'load s',
      'target/s',
      'achieved/s',
      'attempted',
      'ok',
      'errors by kind',
      'lost',
      'unknown outcome',
      'converged',
      'crashes',
      'p50 µs',
      'p99 µs',
      'max µs',
    ],
    [
      [
        r.options.quorum,
        r.loadS,
        r.targetRate,
        r.achievedRate,
        r.attempted,
        r.ok,
        errs,
        r.lostWrites,
        r.unknownOutcome,
        r.converged ? 'yes' : 'NO',
        r.unexpectedExits.length,
        r.latencyUs.p50,
        r.latencyUs.p99,
        r.latencyUs.max,
      ],
    ],
  );
  const avail = formatTable(
    ['window', 'attempted', 'ok', 'availability', 'errors', 'p50 µs', 'p99 µs', 'max µs'],
    r.availability.map((w) => [
      w.window,
      w.attempted,
      w.ok,
      w.availability === null ? null : `${round2(w.availability * 100)} %`,
      Object.entries(w.errors)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || '—',
      w.p50Us,
      w.p99Us,
      w.maxUs,
    ]),
  );
  const restarts = formatTable(
    ['restart', 'at s', 'restart ms', 'catch-up ms', 'error'],
    r.restarts.map((x) => [x.follower, x.atS, x.commandMs, x.catchUpMs, x.error ?? '—']),
  );
  const rss = formatTable(
    ['t s', ...r.leaderRssEvery10s.map((x) => String(x.t))],
    [['leader RSS MiB', ...r.leaderRssEvery10s.map((x) => x.MiB)]],
  );
  const l = r.leaderRss;
  const h = r.harnessRss;
  return [
    head,
    avail,
    restarts,
    rss,
    `leader RSS: start ${l.startMiB}, peak ${l.peakMiB}, end ${l.endMiB} MiB; growth over the last ${l.windowS} s ${l.growthLastWindowMiB} MiB → ${r.memoryFlat ? 'flat' : 'GROWING'}` +
      `\nharness RSS (main + worker threads): start ${h.startMiB}, peak ${h.peakMiB}, end ${h.endMiB} MiB; growth over the last ${l.windowS} s ${h.growthLastWindowMiB} MiB` +
      `\nfollower peak RSS (any incarnation) MiB: ${r.followersPeakMiB.join(', ')}` +
      `\nsend lag µs: ${r.sendLagUs ? `p50 ${r.sendLagUs.p50}, p99 ${r.sendLagUs.p99}, max ${r.sendLagUs.max}` : '—'}; healed ${r.healed}; not fired: ${r.notFired.join(', ') || 'none'}; wall ${r.wallS} s` +
      (r.warnings.length ? `\nwarnings: ${r.warnings.join(' | ')}` : ''),
  ].join('\n\n');
}

export function verdict(r: SoakResult): string {
  return (
    `target: no crash (${r.unexpectedExits.length}), zero lost writes (${r.lostWrites}), converged (${r.converged ? 'yes' : 'no'}), ` +
    `leader RSS flat (+${r.leaderRss.growthLastWindowMiB} MiB over the last ${r.leaderRss.windowS} s, ≤ ${r.options.flatToleranceMiB}) → ${r.passed ? 'holds' : 'MISSED'}`
  );
}
