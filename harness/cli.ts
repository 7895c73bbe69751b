/**
 * `npm run experiment -- --quorums 1,2,3,4,5`. The only module of the harness that prints or exits.
 * Exit codes: 0 ok, 1 a quorum lost an acknowledged write, did not converge, or the run failed,
 * 2 bad options, 130 interrupted.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { cliFail } from '../lib/cli.ts';
import { runExperiment, type ExperimentHooks, type ExperimentResult } from './experiment.ts';
import { runLoadSweep, type LoadSweepResult } from './sweep.ts';
import { OPTION_SPECS, OptionError, resolveOptions, type ExperimentInput } from './options.ts';
import { formatIncomplete, formatLoadWarnings, formatProgressLine, formatSummaryTable } from './summary.ts';
import type { LeaderLatency } from './leader-windows.ts';
import type { PhaseTimes } from './results.ts';
import { describeError } from '../contracts/errors.ts';
import type { Comparison } from '../analysis/compare.ts';
import { headline, headlineLines } from '../analysis/headline.ts';

/** Which keys differ, per follower, and whether they already differed before the load. */
function convergenceDetail(c: {
  differingKeys?: string[][];
  preRunDifferingKeys?: string[][];
  quiescent: boolean;
}): string {
  const parts = (c.differingKeys ?? []).flatMap((keys, i) => {
    if (keys.length === 0) return [];
    const before = new Set(c.preRunDifferingKeys?.[i] ?? []);
    const old = keys.filter((k) => before.has(k));
    return [
      `follower${i + 1}: ${keys.join(', ')}${old.length > 0 ? ` (${old.length === keys.length ? 'all' : old.join(', ')} already differed before the run)` : ''}`,
    ];
  });
  if (parts.length === 0) return c.quiescent ? '' : ' (replication still pending at the deadline)';
  return ` (${parts.join('; ')})`;
}

/** Conventions shared by every CLI (lib/cli.ts): exit 2 and `(see --help)` for a usage error. */
function fail(message: string, code: number): never {
  return cliFail('experiment', message, code);
}

function buildParser() {
  let parser = yargs(hideBin(process.argv))
    .scriptName('npm run experiment --')
    .usage('$0 [options]\n\nSweep write quorums W over fresh clusters and measure write latency and read staleness.')
    .strict()
    .version(false)
    .help('help')
    .alias('help', 'h')
    .wrap(Math.min(120, process.stdout.columns || 100))
    .fail((msg, err) => fail((err?.message ?? msg).split('\n')[0]!, 2))
    .example('$0 --quorums 1,2,3,4,5', 'the default sweep: 10 clients open loop at half the capacity calibrated at W=5')
    .example('$0 --rate closed', '10 clients in a closed loop (saturates the machine: mostly queueing)')
    .example('$0 --rates 20%,40%,60%,80% --writes 3000', 'latency vs offered load per W (latency_vs_load.svg)')
    .example(
      '$0 --quorums 1,5 --rate 200 --visibility 0.2',
      'open loop at 200 writes/s (a rate a 2-core machine follows), probing 20% of writes for t-visibility',
    )
    .example(
      '$0 --quorums 1,2,3,4,5 --writes 2000 --fault kill:1@20%',
      'kill one seeded-random follower at 20% of each load: availability per W',
    )
    .example(
      '$0 --leader http://127.0.0.1:8000 --followers http://127.0.0.1:8001,...',
      'against a running cluster (ours, or any seed-API one at its one W: add --quorums W)',
    )
    .example(
      "$0 --leader ... --followers ... --quorums 1,5 --cluster-cmd 'WRITE_QUORUM={W} docker compose up -d' --cluster-stop-cmd 'docker compose down'",
      'a cluster started afresh for each W (docs/external.md)',
    );
  for (const spec of OPTION_SPECS) {
    parser = parser.option(spec.flag, {
      type: spec.type,
      describe: `${spec.describe} [unit: ${spec.unit}]`,
      defaultDescription: spec.defaultText,
      group: `${spec.group}:`,
      // Keep raw strings: the schema parses and validates them (e.g. `1,,x` must not become NaN silently).
      ...(spec.type === 'string' ? { string: true } : {}),
    });
  }
  return parser;
}

/** The command line as runExperiment() input, checked (exit 2 on a bad option). */
async function readInput(): Promise<ExperimentInput> {
  const argv = await buildParser().parseAsync();
  const input: ExperimentInput = {};
  for (const spec of OPTION_SPECS) {
    const v = (argv as Record<string, unknown>)[spec.key];
    if (v === undefined) continue;
    if (Array.isArray(v) && !spec.repeatable) fail(`--${spec.flag}: given more than once`, 2);
    (input as Record<string, unknown>)[spec.key] = v;
  }
  // The command line's default load is the calibrated open loop (runExperiment()'s stays closed for callers in code).
  if (input.rate === undefined) input.rate = 'auto';
  // Like the nodes, compose and `npm run cluster`, take the token from the environment.
  if (input.replicationToken === undefined && process.env.REPLICATION_TOKEN)
    input.replicationToken = process.env.REPLICATION_TOKEN;
  try {
    resolveOptions(input);
  } catch (err) {
    if (err instanceof OptionError) fail(err.message, 2);
    throw err;
  }
  return input;
}

/** First Ctrl-C aborts the run gracefully; a second one quits at once. */
function abortOnInterrupt(): AbortController {
  const controller = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write(
      '\nexperiment: interrupted; finishing in-flight writes and stopping the cluster (Ctrl-C again to quit now)\n',
    );
    controller.abort();
  });
  return controller;
}

type QuorumDone = NonNullable<ExperimentHooks['onQuorumDone']>;
type Calibrated = NonNullable<ExperimentHooks['onCalibration']>;

const printQuorumDone: QuorumDone = (r) => {
  const s = r.latencyStats;
  const converged = r.convergence.converged ? 'converged' : 'DID NOT CONVERGE';
  const lost = r.lostWrites.lost === 0 ? 'nothing lost' : `${r.lostWrites.lost} ACKNOWLEDGED WRITES LOST`;
  process.stdout.write(
    `W=${r.quorum}: ${r.ok} writes in ${r.durationS.toFixed(2)} s (${r.achievedRate.toFixed(0)}/s), p50 ${s.p50} µs, p99 ${s.p99} µs, ` +
      `harness CPU ${(100 * r.harnessCpuShare).toFixed(0)}% of the machine, ${converged}, ${lost}\n`,
  );
  const fault = r.availability.find((w) => w.window === 'fault');
  if (!r.faults || !fault) return;
  const pct =
    fault.availabilityOfIntended === null ? '-' : `${(100 * fault.availabilityOfIntended).toFixed(1)}% of intended`;
  const recovery = r.faults.recoveryMs === null ? '' : `, recovery ${r.faults.recoveryMs} ms`;
  process.stdout.write(
    `W=${r.quorum}: during faults (${(r.faults.faultWindowMs / 1000).toFixed(2)} s) ${fault.okOnTime} of ${fault.intended} intended writes sent on time and ok (${pct}; ${fault.ok}/${fault.attempted} of those sent ok), ${fault.readsUnavailable} reads unavailable` +
      `${fault.latency.count > 0 ? `, p50 ${fault.latency.p50} µs, p99 ${fault.latency.p99} µs, mean ${fault.latency.mean} µs` : ''}` +
      `${leaderOwn(fault.leaderLatency)}${recovery}\n`,
  );
};

/** The leader's own figures for the window, beside the client's: a gap between them is harness or network time. */
function leaderOwn(l: LeaderLatency | null): string {
  if (!l) return '';
  return l.p50Us === null
    ? ` (the leader's own mean ${l.meanUs} µs)`
    : ` (the leader's own p50 ${l.p50Us} µs, p99 ${l.p99Us} µs, mean ${l.meanUs} µs)`;
}

const printCalibration: Calibrated = (c) => {
  process.stdout.write(
    `calibration: ${c.clients} clients in a closed loop at W=${c.quorum} reached ${c.capacityWritesPerSec} writes/s (${c.writes} writes, ` +
      `${c.wallS.toFixed(1)} s); every W runs open loop at ${Math.round(c.share * 100)}% of that: ${c.rateWritesPerSec} writes/s` +
      `${c.writesPerQuorum === undefined ? '' : `, ${c.writesPerQuorum} writes per W`}\n`,
  );
};

/** The hooks that print while the run goes; `clearLine` removes a pending progress line. */
function printingHooks(signal: AbortSignal, showProgress: boolean): { hooks: ExperimentHooks; clearLine: () => void } {
  const isTty = Boolean(process.stdout.isTTY);
  let lastLine = '';
  const clearLine = (): void => {
    if (lastLine && isTty) process.stdout.write('\r\x1b[K');
    lastLine = '';
  };
  const hooks: ExperimentHooks = {
    signal,
    onProgress: showProgress
      ? (p) => {
          const line = formatProgressLine(p);
          if (line === lastLine) return;
          process.stdout.write(isTty ? `\r\x1b[K${line}` : `${line}\n`);
          lastLine = line;
        }
      : undefined,
    onQuorumDone: (r) => {
      clearLine();
      printQuorumDone(r);
    },
    onCalibration: (c) => {
      clearLine();
      printCalibration(c);
    },
    onWarning: (message) => {
      clearLine();
      process.stderr.write(`experiment: warning: ${message}\n`);
    },
  };
  return { hooks, clearLine };
}

/** The settings line, the leader priority and each W's send lag. */
function printSettings(result: ExperimentResult): void {
  const o = result.options;
  process.stdout.write(
    `${o.clients} clients on ${o.threads} threads, ${o.rate ? `open loop at ${o.rate} writes/s` : 'closed loop'}, ` +
      `${o.writes} writes per quorum (+${o.warmup} warm-up), ` +
      `${o.leader ? `external cluster ${o.leader}` : `delays ${o.minDelayMs}..${o.maxDelayMs} ms`}, seed ${o.seed}\n`,
  );
  const priorities = [
    ...new Set(
      result.results
        .map((r) => (r.cluster as { appliedLeaderPriority?: string }).appliedLeaderPriority)
        .filter(Boolean),
    ),
  ];
  if (priorities.length > 0) {
    process.stdout.write(
      `leader priority: ${priorities.join(', ')}${priorities.includes('normal') ? ' (injected delays can run late while the CPUs are busy; see --leader-priority)' : ' (SCHED_FIFO)'}\n`,
    );
  }
  for (const r of result.results) {
    if (!r.sendLagStats) continue;
    process.stdout.write(
      `W=${r.quorum}: open-loop send lag (actual - intended send) p50 ${r.sendLagStats.p50} µs, p99 ${r.sendLagStats.p99} µs\n`,
    );
    // Writes no longer wait for each other or for reads, so a large lag means starved client threads or the in-flight cap.
    if (r.sendLagStats.p99 > 5000) {
      process.stdout.write(
        `W=${r.quorum}: warning: send lag p99 ${r.sendLagStats.p99} µs: writes left late (client threads short of CPU${r.capWaits > 0 ? ', or --max-in-flight reached' : ''}); those waits are in the latencies\n`,
      );
    }
  }
}

/** Where the wall time went, and the files written. */
function printWallTimeAndFiles(result: ExperimentResult, started: number): void {
  const o = result.options;
  if (o.faults.length > 0)
    process.stdout.write(`faults: ${o.faults.map((f) => f.text).join(', ')} (healed after each load)\n`);
  const sum = (k: keyof PhaseTimes): string => result.results.reduce((a, r) => a + r.phases[k], 0).toFixed(1);
  process.stdout.write(
    `wall time ${((Date.now() - started) / 1000).toFixed(1)} s: cluster start ${sum('clusterStartS')} s, warm-up ${sum('warmupS')} s, ` +
      `load ${sum('measureS')} s, ${o.faults.length > 0 ? `healing ${sum('healS')} s, ` : ''}convergence check ${sum('convergenceS')} s, ${o.trace > 0 ? `trace collection ${sum('traceS')} s, ` : ''}cluster stop ${sum('stopS')} s` +
      (result.analysis.elapsedMs !== undefined ? `, analysis ${(result.analysis.elapsedMs / 1000).toFixed(1)} s` : '') +
      '\n',
  );
  process.stdout.write(`results: ${result.dir}\n`);
  for (const f of result.files) process.stdout.write(`  ${f}\n`);
  if (result.analysis.ran) {
    const files = (result.analysis.result as { files?: unknown } | undefined)?.files;
    process.stdout.write('analysis:\n');
    if (Array.isArray(files)) for (const f of files) process.stdout.write(`  ${String(f)}\n`);
  }
}

function printSummary(result: ExperimentResult, started: number): void {
  // A rate the machine could not follow, or a step cut short, is said before anything else.
  for (const line of formatLoadWarnings(result.results)) process.stdout.write(`\n${line}`);
  // The answer first (cost per extra ack, stale fraction per W, fidelity), when the analysis ran.
  const comparison = (result.analysis.result as { comparison?: Comparison } | undefined)?.comparison;
  if (comparison) process.stdout.write(`\n${headlineLines(headline(comparison)).join('\n')}\n`);
  process.stdout.write(`\n${formatSummaryTable(result.results)}\n\n`);
  for (const line of formatIncomplete(result.results)) process.stdout.write(`${line}\n`);
  printSettings(result);
  printWallTimeAndFiles(result, started);
}

/** Exit 130 when interrupted, 1 when a write was lost or the replicas differ, else 0. */
function exitFor(result: ExperimentResult): never {
  if (result.aborted) fail('interrupted; partial results written', 130);
  if (!result.nothingLost) {
    const bad = result.results
      .filter((r) => r.lostWrites.lost > 0)
      .map((r) => {
        const nodes = r.lostWrites.nodes
          .filter((n) => n.lost + n.corrupted > 0)
          .map((n) => `${n.name} ${n.lost + n.corrupted}`);
        return `W=${r.quorum} (${nodes.join(', ')})`;
      });
    fail(
      `ACKNOWLEDGED WRITES LOST for ${bad.join('; ')}: nodes do not hold writes that clients got a 200 for (see lost_writes in summary.csv, lostWrites in meta.json)`,
      1,
    );
  }
  if (!result.converged) {
    const bad = result.results
      .filter((r) => !r.convergence.converged)
      .map((r) => `W=${r.quorum}${convergenceDetail(r.convergence)}`);
    fail(
      `REPLICAS DID NOT CONVERGE for ${bad.join('; ')}: followers still differ from the leader after the run (see mismatched_keys in summary.csv)`,
      1,
    );
  }
  process.exit(0);
}

async function main(): Promise<void> {
  const input = await readInput();
  if (resolveOptions(input).rates.length > 0) return sweepMain(input);
  const isTty = Boolean(process.stdout.isTTY);
  const showProgress =
    input.progress === undefined || input.progress === 'auto'
      ? isTty
      : resolveOptions({ progress: input.progress }).progress === true;
  const controller = abortOnInterrupt();
  const { hooks, clearLine } = printingHooks(controller.signal, showProgress);
  const started = Date.now();
  let result: ExperimentResult;
  try {
    result = await runExperiment(input, hooks);
  } catch (err) {
    clearLine();
    if (err instanceof OptionError) fail(err.message, 2);
    // Our errors explain themselves (code: message); anything else is a bug: describeError shows the stack.
    fail(`failed: ${describeError(err)}`, 1);
  }
  clearLine();
  printSummary(result, started);
  exitFor(result);
}

/** `--rates`: one experiment per offered rate, then the load table (load_sweep.csv, latency_vs_load.svg). */
async function sweepMain(input: ExperimentInput): Promise<void> {
  const controller = new AbortController();
  process.on('SIGINT', () => controller.abort());
  let sweep: LoadSweepResult;
  try {
    sweep = await runLoadSweep(input, {
      signal: controller.signal,
      onCalibration: (c) =>
        process.stdout.write(
          `calibration: ${c.clients} clients closed loop at W=${c.quorum}: ${c.capacityWritesPerSec} writes/s capacity\n`,
        ),
      onQuorumDone: (r) =>
        process.stdout.write(
          `W=${r.quorum} at ${r.targetRate ?? '-'} writes/s offered: ${r.achievedRate.toFixed(0)}/s, p50 ${r.latencyStats.p50} µs, p99 ${r.latencyStats.p99} µs\n`,
        ),
      onWarning: (m) => process.stderr.write(`experiment: warning: ${m}\n`),
    });
  } catch (err) {
    if (err instanceof OptionError) fail(err.message, 2);
    fail(`failed: ${describeError(err)}`, 1);
  }
  process.stdout.write('\nW  offered/s  achieved/s  p50 µs  p99 µs  stale %\n');
  for (const r of sweep.rows) {
    const stale = r.stale_fraction === null ? '-' : (100 * r.stale_fraction).toFixed(1);
    process.stdout.write(
      `${r.quorum}  ${r.offered_writes_per_sec}  ${r.achieved_writes_per_sec}  ${r.latency_p50_us}  ${r.latency_p99_us}  ${stale}\n`,
    );
  }
  process.stdout.write(`results: ${sweep.dir}\n${sweep.files.map((f) => `  ${f}\n`).join('')}`);
  if (controller.signal.aborted) fail('interrupted; partial results written', 130);
  const bad = sweep.steps.some((s) => !s.result.converged || !s.result.nothingLost);
  if (bad) fail('a step did not converge or lost acknowledged writes (see each rate folder)', 1);
  process.exit(0);
}

await main();
