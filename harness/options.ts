/**
 * The one options schema of the experiment harness. The CLI (yargs, `--help`), the programmatic
 * `runExperiment()` and meta.json all read their flags, units, defaults and descriptions from
 * OPTION_SPECS, so the three can never disagree.
 */
import { availableParallelism } from 'node:os';
import { parseDurationMs } from '../lib/duration.ts';
import { randomSeed } from '../lib/rng.ts';
import { FaultSpecError, parseFaults, type FaultSpec } from './faults.ts';
import { QuorumLabError } from '../contracts/errors.ts';
import { TOKEN_PATTERN, TOKEN_RULE } from '../nodes/auth.ts';
import { DEFAULT_TRACE_CAPACITY } from '../contracts/trace.ts';

/** Followers of the local cluster the harness launches (the contract's default). */
export const LOCAL_FOLLOWERS = 5;

/** Raw option values as a user gives them: strings from the command line, or typed values in code. */
export interface ExperimentInput {
  quorums?: string | number | number[];
  clients?: string | number;
  threads?: string | number;
  writes?: string | number;
  warmup?: string | number;
  keys?: string | number;
  valueBytes?: string | number;
  seed?: string | number;
  rate?: string | number;
  rates?: string | Array<string | number>;
  readback?: string | number;
  visibility?: string | number | boolean;
  visibilityMax?: string | number;
  minDelay?: string | number;
  maxDelay?: string | number;
  quorumTimeout?: string | number;
  requestTimeout?: string | number;
  readTimeout?: string | number;
  maxInFlight?: string | number;
  trace?: string | number;
  readQuorum?: string | number | number[];
  convergenceTimeout?: string | number;
  out?: string;
  leader?: string;
  followers?: string | string[];
  basePort?: string | number;
  analyze?: string | boolean;
  progress?: string | boolean;
  /** Fault specs: one string (`,`/`;` list) or several (repeated --fault). */
  fault?: string | string[];
  replicationToken?: string;
  leaderPriority?: string;
  server?: string;
  clusterCmd?: string;
  clusterStopCmd?: string;
  clusterReadyTimeout?: string | number;
}

/** Validated options with every default applied; recorded verbatim in meta.json. */
export interface ExperimentOptions {
  quorums: number[];
  clients: number;
  threads: number;
  writes: number;
  warmup: number;
  keys: number;
  valueBytes: number;
  seed: number;
  /** Total writes/s for the open-loop model; null = closed loop (or not yet calibrated, see rateShare). */
  rate: number | null;
  /** `--rate auto` or `N%`: the rate is this share of the capacity a short closed-loop calibration measures; null = no calibration. */
  rateShare: number | null;
  /** `--rates`: offered loads to sweep (absolute writes/s or shares of the calibrated capacity); empty = no sweep. */
  rates: RateSpec[];
  readback: number;
  /** Fraction of writes probed for t-visibility; 0 = off. */
  visibility: number;
  visibilityMaxUs: number;
  minDelayMs: number;
  maxDelayMs: number;
  quorumTimeoutMs: number;
  requestTimeoutMs: number;
  /** Read-backs and probes unanswered after this long count `unavailable`. */
  readTimeoutMs: number;
  /** Open loop: writes in flight at most (all threads); a write due beyond it waits and is counted. */
  maxInFlight: number;
  /** Fraction of measured writes traced on the client side (issue 9). */
  trace: number;
  /** --read-quorum: R values really read per read-back (R random followers, newest kept); empty = off. */
  readQuorums: number[];
  convergenceTimeoutMs: number;
  out: string;
  /** External cluster; null = launch a local cluster per quorum. */
  leader: string | null;
  followers: string[] | null;
  basePort: number;
  analyze: boolean;
  progress: 'auto' | boolean;
  /** Fault schedule applied to every quorum's measured load; empty = no faults. */
  faults: FaultSpec[];
  /** REPLICATION_TOKEN sent as `Authorization: Bearer` on admin calls (and given to local clusters); null = none. */
  replicationToken: string | null;
  /** Scheduling priority of local leaders: auto (SCHED_FIFO when permitted), realtime (required) or normal. */
  leaderPriority: 'auto' | 'realtime' | 'normal';
  /** HTTP server of the local nodes (SERVER): node:http or Express. */
  server: 'http' | 'express';
  /** External mode: shell command run before each quorum step ({W}, {LEADER_PORT}, {FOLLOWER_PORTS} substituted); null = none. */
  clusterCmd: string | null;
  /** Run after each quorum step (same placeholders); null = none. */
  clusterStopCmd: string | null;
  /** How long to wait for every node's GET /health after --cluster-cmd. */
  clusterReadyTimeoutMs: number;
  /**
   * External mode: which of --min-delay, --max-delay, --quorum-timeout the user gave (they must
   * match what the cluster reports, or the run is refused); empty for a local cluster.
   */
  externalSettings: ('minDelayMs' | 'maxDelayMs' | 'quorumTimeoutMs')[];
}

/** An offered load: absolute, or a share of the calibrated capacity. */
export type RateSpec = { perSec: number } | { share: number };

/** `--rate auto`: half the capacity calibrated at the highest W (the slowest), so every W runs below saturation. */
export const AUTO_RATE_SHARE = 0.5;

export type OptionKey = keyof ExperimentInput;

export interface OptionSpec {
  key: OptionKey;
  /** Command-line flag without dashes. */
  flag: string;
  type: 'string' | 'boolean';
  unit: string;
  /** The default as shown in --help (and applied by resolveOptions). */
  defaultText: string;
  describe: string;
  group: 'Workload' | 'Load model' | 'Measurements' | 'Cluster' | 'Faults' | 'Output';
  /** May be given several times on the command line (values are concatenated). */
  repeatable?: boolean;
}

export const OPTION_SPECS: readonly OptionSpec[] = [
  {
    key: 'quorums',
    flag: 'quorums',
    type: 'string',
    unit: 'comma list of W',
    defaultText: '1,2,3,4,5',
    group: 'Workload',
    describe: 'Write quorums to sweep; each runs on a fresh cluster (W = follower acks the leader waits for)',
  },
  {
    key: 'clients',
    flag: 'clients',
    type: 'string',
    unit: 'clients',
    defaultText: '10',
    group: 'Load model',
    describe:
      'Logical clients; each is a closed loop (next write after the previous write and its read-back finished), or follows its share of --rate',
  },
  {
    key: 'threads',
    flag: 'threads',
    type: 'string',
    unit: 'worker threads',
    defaultText: 'min(clients, cores)',
    group: 'Load model',
    describe:
      "Worker threads the logical clients are spread over (round-robin); several clients share a thread's event loop",
  },
  {
    key: 'writes',
    flag: 'writes',
    type: 'string',
    unit: 'writes per quorum',
    defaultText: '10000 (with a calibrated --rate: at most 6 s of load per W)',
    group: 'Workload',
    describe:
      'Measured writes per quorum; when not given and the rate is calibrated (--rate auto or N%), at most what the calibrated rate sends in 6 s (at least 1000), so the default run stays short',
  },
  {
    key: 'warmup',
    flag: 'warmup',
    type: 'string',
    unit: 'writes per quorum',
    defaultText: '500',
    group: 'Workload',
    describe: 'Warm-up writes before each measurement, excluded from every statistic',
  },
  {
    key: 'keys',
    flag: 'keys',
    type: 'string',
    unit: 'keys',
    defaultText: '100',
    group: 'Workload',
    describe: 'Key space; each write picks a key uniformly with the seeded RNG',
  },
  {
    key: 'valueBytes',
    flag: 'value-bytes',
    type: 'string',
    unit: 'bytes',
    defaultText: '16',
    group: 'Workload',
    describe: 'Length of each written value (a string of that many ASCII characters)',
  },
  {
    key: 'seed',
    flag: 'seed',
    type: 'string',
    unit: 'uint32',
    defaultText: 'random (recorded)',
    group: 'Workload',
    describe: "Seed of keys, values, sampling and the clusters' delays; same seed => same write sequence",
  },
  {
    key: 'rate',
    flag: 'rate',
    type: 'string',
    unit: 'writes/s (total) | N% | auto | closed',
    defaultText: 'auto on the command line; closed in runExperiment()',
    group: 'Load model',
    describe:
      'Open loop: writes are scheduled at fixed intended times and latency counts from the intended send time (coordinated omission corrected). ' +
      'auto = 50% (N% = that share) of the capacity a short closed-loop calibration measures at the highest W, one rate for every W (printed, in meta.json calibration); closed = each client waits for its write',
  },
  {
    key: 'rates',
    flag: 'rates',
    type: 'string',
    unit: 'comma list of writes/s or N%',
    defaultText: 'none',
    group: 'Load model',
    describe:
      'Sweep offered load, e.g. 20%,40%,60%,80% of the calibrated capacity or 500,1000: one run folder per rate under --out, plus load_sweep.csv and latency_vs_load.svg',
  },
  {
    key: 'readback',
    flag: 'readback',
    type: 'string',
    unit: 'fraction 0..1',
    defaultText: '1',
    group: 'Measurements',
    describe: 'Fraction of acked writes read back at once from the leader and every follower to classify fresh/stale',
  },
  {
    key: 'visibility',
    flag: 'visibility',
    type: 'string',
    unit: 'fraction 0..1',
    defaultText: '0 (off; bare flag = 0.1)',
    group: 'Measurements',
    describe:
      'Fraction of writes re-probed at offsets 0, 50, 100, 200, 400 µs ... after the ack until every follower is fresh (t-visibility)',
  },
  {
    key: 'visibilityMax',
    flag: 'visibility-max',
    type: 'string',
    unit: 'duration',
    defaultText: '20ms',
    group: 'Measurements',
    describe: 'Largest probe offset of --visibility; writes not visible by then count as not visible',
  },
  {
    key: 'minDelay',
    flag: 'min-delay',
    type: 'string',
    unit: 'duration (100us, 0.1ms, 0.0001s; bare = ms)',
    defaultText: '0.1ms',
    group: 'Cluster',
    describe:
      'Minimum injected replication delay (MIN_DELAY of the launched clusters; with --leader it must be what the cluster reports, else refused)',
  },
  {
    key: 'maxDelay',
    flag: 'max-delay',
    type: 'string',
    unit: 'duration',
    defaultText: '1ms',
    group: 'Cluster',
    describe: 'Maximum injected replication delay (MAX_DELAY)',
  },
  {
    key: 'leaderPriority',
    flag: 'leader-priority',
    type: 'string',
    unit: 'auto | realtime | normal',
    defaultText: 'auto',
    group: 'Cluster',
    describe:
      "Priority of each local leader's replication thread (LEADER_PRIORITY): auto = SCHED_FIFO for that thread alone when permitted (root or CAP_SYS_NICE), so injected delays stay precise while clients and followers keep both cores busy; realtime = required; normal = never. Processes stay at normal priority; the applied one is in meta.json",
  },
  {
    key: 'server',
    flag: 'server',
    type: 'string',
    unit: 'http | express',
    defaultText: 'http',
    group: 'Cluster',
    describe:
      'HTTP server of the local nodes (SERVER): http = node:http (less CPU per request, bench/express-vs-http.ts) or express = the Express 5 app; recorded in meta.json',
  },
  {
    key: 'quorumTimeout',
    flag: 'quorum-timeout',
    type: 'string',
    unit: 'duration',
    defaultText: '2s',
    group: 'Cluster',
    describe: 'How long the leader waits for W acks before answering 503 (QUORUM_TIMEOUT)',
  },
  {
    key: 'requestTimeout',
    flag: 'request-timeout',
    type: 'string',
    unit: 'duration',
    defaultText: '10s',
    group: 'Load model',
    describe:
      'Client-side headers and body timeout of every write; expiries count in errors_timeout (read-backs have --read-timeout)',
  },
  {
    key: 'readTimeout',
    flag: 'read-timeout',
    type: 'string',
    unit: 'duration',
    defaultText: '200ms',
    group: 'Measurements',
    describe:
      'Budget of each read-back and visibility probe; unanswered by then (paused or partitioned follower) = unavailable, a third outcome beside fresh and stale. 200 ms is ~100x a healthy loopback read and above the p99.9 of a loaded 2-core machine, yet far below the seconds a stopped process would hold a read',
  },
  {
    key: 'maxInFlight',
    flag: 'max-in-flight',
    type: 'string',
    unit: 'writes',
    defaultText: '512',
    group: 'Load model',
    describe:
      'Open loop: writes in flight at most; a write due beyond it waits (counted as cap_waits in summary.csv), otherwise every write leaves at its intended time',
  },
  {
    key: 'readQuorum',
    flag: 'read-quorum',
    type: 'string',
    unit: 'comma list of R',
    defaultText: 'none',
    group: 'Measurements',
    describe:
      'Also read R random followers per read-back and keep the newest version (R cycles through the list): observed_read_quorums.csv, and an observed column beside the inferred one in read_quorums.csv; W + R > N must give 0 stale',
  },
  {
    key: 'trace',
    flag: 'trace',
    type: 'string',
    unit: 'fraction 0..1',
    defaultText: '1 (at most 18,000 per W)',
    group: 'Measurements',
    describe:
      "Fraction of measured writes traced (x-ql-trace on the write and its read-backs; client times per write on the shared monotonic clock). Every write by default: tracing all of them cost +1.4 % of CPU per write during the load (95 % interval -1.1 .. +3.9 %, bench trace-cost), plus 2.2 % for collecting the traces after each step; only then does decomposition.csv add up to the mean of all writes. Capped at 90 % of the nodes' 20,000-record rings; a smaller fraction traces a sample",
  },
  {
    key: 'convergenceTimeout',
    flag: 'convergence-timeout',
    type: 'string',
    unit: 'duration',
    defaultText: '10s',
    group: 'Measurements',
    describe:
      'How long to wait after the load for the leader to report no pending replication before comparing replicas',
  },
  {
    key: 'out',
    flag: 'out',
    type: 'string',
    unit: 'directory',
    defaultText: 'data/runs/<UTC timestamp>',
    group: 'Output',
    describe: 'Run folder for the CSVs, .hgrm files and meta.json',
  },
  {
    key: 'leader',
    flag: 'leader',
    type: 'string',
    unit: 'URL',
    defaultText: 'none: local cluster',
    group: 'Cluster',
    describe:
      'Use a running cluster instead of launching one: ours (W switched with PUT /config) or any seed-API cluster (one W, or --cluster-cmd per W)',
  },
  {
    key: 'followers',
    flag: 'followers',
    type: 'string',
    unit: 'comma list of URLs',
    defaultText: 'none',
    group: 'Cluster',
    describe: 'Follower URLs of the external cluster (with --leader)',
  },
  {
    key: 'basePort',
    flag: 'base-port',
    type: 'string',
    unit: 'TCP port',
    defaultText: '0 (ephemeral)',
    group: 'Cluster',
    describe: 'Local cluster ports: leader on base, followers on base+1..base+5 (checked free before starting)',
  },
  {
    key: 'fault',
    flag: 'fault',
    type: 'string',
    unit: 'action:target@time (repeatable; , or ; lists)',
    defaultText: 'none',
    group: 'Faults',
    repeatable: true,
    describe:
      "Fault during each quorum's measured load, e.g. kill:follower2@2s, restart:follower2@5s, pause:follower1@1s-3s, partition:follower1@1s-3s (iptables, root only), kill:2@30% (2 seeded-random followers at 30% of the writes); healed afterwards (local cluster only)",
  },
  {
    key: 'replicationToken',
    flag: 'replication-token',
    type: 'string',
    unit: 'string',
    defaultText: '$REPLICATION_TOKEN, else none',
    group: 'Cluster',
    describe:
      'Token of a cluster started with REPLICATION_TOKEN, sent as Authorization: Bearer on PUT /config and POST /stats/reset; local clusters are started with it (never written to meta.json)',
  },
  {
    key: 'clusterCmd',
    flag: 'cluster-cmd',
    type: 'string',
    unit: 'shell command',
    defaultText: 'none',
    group: 'Cluster',
    describe:
      "With --leader: run before each quorum step to start the cluster at that W ({W}, {LEADER_PORT}, {FOLLOWER_PORTS} are substituted), then wait for every node's /health; e.g. 'WRITE_QUORUM={W} docker compose up -d --wait'",
  },
  {
    key: 'clusterStopCmd',
    flag: 'cluster-stop-cmd',
    type: 'string',
    unit: 'shell command',
    defaultText: 'none',
    group: 'Cluster',
    describe: "With --cluster-cmd: run after each quorum step (same placeholders), e.g. 'docker compose down'",
  },
  {
    key: 'clusterReadyTimeout',
    flag: 'cluster-ready-timeout',
    type: 'string',
    unit: 'duration',
    defaultText: '60s',
    group: 'Cluster',
    describe: 'How long to wait after --cluster-cmd until every node answers GET /health',
  },
  {
    key: 'analyze',
    flag: 'analyze',
    type: 'boolean',
    unit: 'boolean',
    defaultText: 'true',
    group: 'Output',
    describe: 'Run the analysis on the run folder afterwards (--no-analyze to skip)',
  },
  {
    key: 'progress',
    flag: 'progress',
    type: 'string',
    unit: 'auto|true|false',
    defaultText: 'auto (TTY only)',
    group: 'Output',
    describe: 'Live progress line per quorum (writes done, writes/s, p50/p99)',
  },
];

/** A rejected option. `code` is stable per option, e.g. QL_ERR_OPT_QUORUMS. */
export class OptionError extends QuorumLabError {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`QL_ERR_OPT_${option.toUpperCase().replace(/-/g, '_')}`, `--${option}: ${message}`);
  }
}

function flagOf(key: OptionKey): string {
  return OPTION_SPECS.find((s) => s.key === key)!.flag;
}

function isAbsent(v: unknown): boolean {
  return v === undefined || v === null || v === '';
}

function parseNumber(key: OptionKey, raw: string | number): number {
  const n =
    typeof raw === 'number' ? raw : /^\s*[-+]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?\s*$/i.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(n)) throw new OptionError(flagOf(key), `not a number: ${JSON.stringify(raw)}`);
  return n;
}

function parseInteger(
  key: OptionKey,
  raw: string | number | undefined,
  dflt: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (isAbsent(raw)) return dflt;
  const n = parseNumber(key, raw!);
  if (!Number.isInteger(n)) throw new OptionError(flagOf(key), `must be an integer, got ${JSON.stringify(raw)}`);
  if (n < min || n > max) {
    throw new OptionError(
      flagOf(key),
      max === Number.MAX_SAFE_INTEGER ? `must be >= ${min}, got ${n}` : `must be in ${min}..${max}, got ${n}`,
    );
  }
  return n;
}

function parseFraction(key: OptionKey, raw: string | number | undefined, dflt: number): number {
  if (isAbsent(raw)) return dflt;
  const n = parseNumber(key, raw!);
  if (n < 0 || n > 1) throw new OptionError(flagOf(key), `must be a fraction in [0, 1], got ${n}`);
  return n;
}

function parseDuration(key: OptionKey, raw: string | number | undefined, dflt: string): number {
  try {
    return parseDurationMs(isAbsent(raw) ? dflt : raw!, `--${flagOf(key)}`);
  } catch {
    throw new OptionError(
      flagOf(key),
      `cannot parse duration ${JSON.stringify(raw)} (use e.g. 100us, 0.1ms, 0.0001s; a bare number means ms)`,
    );
  }
}

function parseBoolean(key: OptionKey, raw: string | boolean | undefined, dflt: boolean): boolean {
  if (isAbsent(raw)) return dflt;
  if (typeof raw === 'boolean') return raw;
  const s = raw!.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off'].includes(s)) return false;
  throw new OptionError(flagOf(key), `expected true or false, got ${JSON.stringify(raw)}`);
}

/** `2500` (writes/s) or `40%` (of the calibrated capacity, 1..100 %). */
function parseRate(key: OptionKey, raw: string | number): RateSpec {
  const text = String(raw).trim();
  if (text.endsWith('%')) {
    const pct = parseNumber(key, text.slice(0, -1));
    if (!(pct > 0 && pct <= 100)) throw new OptionError(flagOf(key), `a share must be in (0, 100] %, got ${text}`);
    return { share: pct / 100 };
  }
  const perSec = parseNumber(key, raw);
  if (!(perSec > 0)) throw new OptionError(flagOf(key), `must be > 0 writes/s, got ${perSec}`);
  return { perSec };
}

function parseUrl(key: OptionKey, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new OptionError(flagOf(key), `not a URL: ${JSON.stringify(raw)} (expected e.g. http://127.0.0.1:8000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OptionError(flagOf(key), `only http(s) URLs are supported, got ${JSON.stringify(raw)}`);
  }
  if (url.pathname !== '/' || url.search || url.hash) {
    throw new OptionError(flagOf(key), `expected an origin without path or query, got ${JSON.stringify(raw)}`);
  }
  return url.origin;
}

function parseList(raw: string | number | number[] | string[]): string[] {
  if (Array.isArray(raw)) return raw.map((x) => String(x));
  return String(raw)
    .split(',')
    .map((s) => s.trim());
}

function utcStamp(date: Date): string {
  // Colons are not portable in folder names; keep it sortable.
  return date
    .toISOString()
    .replace(/:/g, '-')
    .replace(/\.\d+Z$/, 'Z');
}

type Resolved<K extends keyof ExperimentOptions> = Pick<ExperimentOptions, K>;

function rejectUnknown(input: ExperimentInput): void {
  const known = new Set<string>(OPTION_SPECS.map((s) => s.key));
  for (const k of Object.keys(input)) {
    if (!known.has(k))
      throw new OptionError(
        k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
        'unknown option',
      );
  }
}

/** --leader and --followers: both or neither. */
function resolveTarget(input: ExperimentInput): Resolved<'leader' | 'followers'> {
  const leader = isAbsent(input.leader) ? null : parseUrl('leader', String(input.leader));
  let followers: string[] | null = null;
  if (!isAbsent(input.followers)) {
    const items = parseList(input.followers!);
    if (items.some((s) => s === ''))
      throw new OptionError('followers', `empty entry in ${JSON.stringify(String(input.followers))}`);
    followers = items.map((s) => parseUrl('followers', s));
    if (new Set(followers).size !== followers.length) throw new OptionError('followers', 'duplicate follower URL');
    if (leader && followers.includes(leader))
      throw new OptionError('followers', 'the leader URL is also listed as a follower');
  }
  if (leader && !followers) throw new OptionError('leader', 'an external cluster needs --followers as well');
  if (followers && !leader) throw new OptionError('followers', 'an external cluster needs --leader as well');
  return { leader, followers };
}

function resolveQuorums(input: ExperimentInput, followerCount: number): number[] {
  const quorumItems = parseList(isAbsent(input.quorums) ? '1,2,3,4,5' : (input.quorums as string | number | number[]));
  const quorums: number[] = [];
  for (const item of quorumItems) {
    if (!/^\d+$/.test(item)) {
      throw new OptionError(
        'quorums',
        `expected a comma list of integers 1..${followerCount}, got ${JSON.stringify(String(input.quorums))}`,
      );
    }
    const w = Number(item);
    if (w < 1 || w > followerCount) {
      throw new OptionError(
        'quorums',
        `quorum ${w} is impossible with ${followerCount} followers (allowed 1..${followerCount})`,
      );
    }
    if (quorums.includes(w)) throw new OptionError('quorums', `quorum ${w} is listed twice`);
    quorums.push(w);
  }
  return quorums;
}

function resolveLoad(
  input: ExperimentInput,
): Resolved<
  'clients' | 'threads' | 'writes' | 'warmup' | 'keys' | 'valueBytes' | 'seed' | 'rate' | 'rateShare' | 'rates'
> {
  const clients = parseInteger('clients', input.clients, 10, 1, 10_000);
  const threads = parseInteger('threads', input.threads, Math.min(clients, availableParallelism()), 1, 256);
  if (threads > clients)
    throw new OptionError('threads', `cannot exceed --clients (${clients}); a thread with no client would idle`);
  const writes = parseInteger('writes', input.writes, 10_000, 1);
  const warmup = parseInteger('warmup', input.warmup, 500, 0);
  const keys = parseInteger('keys', input.keys, 100, 1);
  // The nodes parse bodies with express's default 100 kB limit.
  const valueBytes = parseInteger('valueBytes', input.valueBytes, 16, 0, 65_536);
  const seed = parseInteger('seed', input.seed, randomSeed(), 0, 0xffff_ffff);
  const rateSpec =
    isAbsent(input.rate) || input.rate === 'closed'
      ? null
      : input.rate === 'auto'
        ? { share: AUTO_RATE_SHARE }
        : parseRate('rate', input.rate!);
  const rate = rateSpec && 'perSec' in rateSpec ? rateSpec.perSec : null;
  const rateShare = rateSpec && 'share' in rateSpec ? rateSpec.share : null;
  const rates = isAbsent(input.rates)
    ? []
    : parseList(input.rates as string | string[]).map((item) => parseRate('rates', item));
  return { clients, threads, writes, warmup, keys, valueBytes, seed, rate, rateShare, rates };
}

function resolveVisibility(input: ExperimentInput): Resolved<'readback' | 'visibility' | 'visibilityMaxUs'> {
  const readback = parseFraction('readback', input.readback, 1);
  let visibility: number;
  if (input.visibility === true || input.visibility === '' || input.visibility === 'true') visibility = 0.1;
  else if (input.visibility === false || input.visibility === 'false') visibility = 0;
  else visibility = parseFraction('visibility', input.visibility as string | number | undefined, 0);
  const visibilityMaxUs = parseDuration('visibilityMax', input.visibilityMax, '20ms') * 1000;
  if (!(visibilityMaxUs > 0)) throw new OptionError('visibility-max', 'must be > 0');
  return { readback, visibility, visibilityMaxUs };
}

function resolveTimings(
  input: ExperimentInput,
): Resolved<
  | 'minDelayMs'
  | 'maxDelayMs'
  | 'quorumTimeoutMs'
  | 'requestTimeoutMs'
  | 'convergenceTimeoutMs'
  | 'readTimeoutMs'
  | 'maxInFlight'
> {
  const minDelayMs = parseDuration('minDelay', input.minDelay, '0.1ms');
  const maxDelayMs = parseDuration('maxDelay', input.maxDelay, '1ms');
  if (minDelayMs > maxDelayMs)
    throw new OptionError('min-delay', `${minDelayMs} ms exceeds --max-delay ${maxDelayMs} ms`);
  const quorumTimeoutMs = parseDuration('quorumTimeout', input.quorumTimeout, '2s');
  if (!(quorumTimeoutMs > 0)) throw new OptionError('quorum-timeout', 'must be > 0');
  const requestTimeoutMs = parseDuration('requestTimeout', input.requestTimeout, '10s');
  if (!(requestTimeoutMs >= 1)) throw new OptionError('request-timeout', 'must be at least 1ms');
  const convergenceTimeoutMs = parseDuration('convergenceTimeout', input.convergenceTimeout, '10s');
  const readTimeoutMs = parseDuration('readTimeout', input.readTimeout, '200ms');
  if (!(readTimeoutMs >= 1)) throw new OptionError('read-timeout', 'must be at least 1ms');
  const maxInFlight = parseInteger('maxInFlight', input.maxInFlight, 512, 1, 100_000);
  return {
    minDelayMs,
    maxDelayMs,
    quorumTimeoutMs,
    requestTimeoutMs,
    convergenceTimeoutMs,
    readTimeoutMs,
    maxInFlight,
  };
}

function resolveReadQuorums(input: ExperimentInput, followerCount: number): number[] {
  const readQuorums: number[] = [];
  if (isAbsent(input.readQuorum)) return readQuorums;
  for (const item of parseList(input.readQuorum!)) {
    const r = /^\d+$/.test(item) ? Number(item) : NaN;
    if (!(r >= 1 && r <= followerCount)) {
      throw new OptionError(
        'read-quorum',
        `expected a comma list of R in 1..${followerCount}, got ${JSON.stringify(String(input.readQuorum))}`,
      );
    }
    if (readQuorums.includes(r)) throw new OptionError('read-quorum', `R = ${r} is listed twice`);
    readQuorums.push(r);
  }
  return readQuorums;
}

function resolveOutput(
  input: ExperimentInput,
  leader: string | null,
  now: Date,
): Resolved<'basePort' | 'out' | 'analyze' | 'progress'> {
  const basePort = parseInteger('basePort', input.basePort, 0, 0, 65_535 - LOCAL_FOLLOWERS);
  if (basePort > 0 && basePort < 1024)
    throw new OptionError('base-port', `ports below 1024 need privileges, got ${basePort}`);
  if (basePort > 0 && leader)
    throw new OptionError('base-port', 'only applies to the local cluster, not with --leader');
  const out = isAbsent(input.out) ? `data/runs/${utcStamp(now)}` : String(input.out);
  const analyze = parseBoolean('analyze', input.analyze, true);
  // A bare `--progress` arrives from yargs as ''.
  const progress =
    input.progress === undefined || input.progress === null || input.progress === 'auto'
      ? 'auto'
      : input.progress === ''
        ? true
        : parseBoolean('progress', input.progress, true);
  return { basePort, out, analyze, progress };
}

function resolveFaults(input: ExperimentInput, leader: string | null, followerCount: number): FaultSpec[] {
  if (isAbsent(input.fault) || (Array.isArray(input.fault) && input.fault.length === 0)) return [];
  let faults: FaultSpec[];
  try {
    faults = parseFaults(input.fault!, followerCount);
  } catch (err) {
    if (err instanceof FaultSpecError) throw new OptionError('fault', err.message);
    throw err;
  }
  if (leader)
    throw new OptionError(
      'fault',
      'faults need the local launcher to kill, pause and restart followers; they cannot be used with --leader (an external cluster)',
    );
  return faults;
}

function resolveNodeSettings(
  input: ExperimentInput,
  leader: string | null,
): Resolved<'replicationToken' | 'leaderPriority' | 'server'> {
  const replicationToken = isAbsent(input.replicationToken) ? null : String(input.replicationToken);
  // The nodes accept printable ASCII without spaces (nodes/auth.ts); say so before anything starts.
  if (replicationToken !== null && !TOKEN_PATTERN.test(replicationToken))
    throw new OptionError('replication-token', TOKEN_RULE);
  const leaderPriority = isAbsent(input.leaderPriority) ? 'auto' : String(input.leaderPriority);
  if (leaderPriority !== 'auto' && leaderPriority !== 'realtime' && leaderPriority !== 'normal') {
    throw new OptionError('leader-priority', `must be auto, realtime or normal, got ${JSON.stringify(leaderPriority)}`);
  }
  if (leaderPriority === 'realtime' && leader)
    throw new OptionError('leader-priority', 'only applies to the local cluster, not with --leader');
  const server = isAbsent(input.server) ? 'http' : String(input.server);
  if (server !== 'http' && server !== 'express')
    throw new OptionError('server', `must be http or express, got ${JSON.stringify(server)}`);
  if (!isAbsent(input.server) && leader)
    throw new OptionError('server', 'only applies to the local cluster, not with --leader');
  return { replicationToken, leaderPriority, server };
}

function resolveExternal(
  input: ExperimentInput,
  leader: string | null,
): Resolved<'clusterCmd' | 'clusterStopCmd' | 'clusterReadyTimeoutMs' | 'externalSettings'> {
  const clusterCmd = isAbsent(input.clusterCmd) ? null : String(input.clusterCmd);
  const clusterStopCmd = isAbsent(input.clusterStopCmd) ? null : String(input.clusterStopCmd);
  if (clusterCmd !== null && !leader)
    throw new OptionError('cluster-cmd', 'starts an external cluster: give its --leader and --followers URLs too');
  if (clusterStopCmd !== null && clusterCmd === null)
    throw new OptionError('cluster-stop-cmd', 'only runs together with --cluster-cmd');
  const clusterReadyTimeoutMs = parseDuration('clusterReadyTimeout', input.clusterReadyTimeout, '60s');
  if (!(clusterReadyTimeoutMs > 0)) throw new OptionError('cluster-ready-timeout', 'must be > 0');
  const externalSettings: ExperimentOptions['externalSettings'] = [];
  if (leader) {
    if (!isAbsent(input.minDelay)) externalSettings.push('minDelayMs');
    if (!isAbsent(input.maxDelay)) externalSettings.push('maxDelayMs');
    if (!isAbsent(input.quorumTimeout)) externalSettings.push('quorumTimeoutMs');
  }
  return { clusterCmd, clusterStopCmd, clusterReadyTimeoutMs, externalSettings };
}

/** Validate raw input and apply the schema's defaults. Throws OptionError naming the first bad option. */
export function resolveOptions(input: ExperimentInput, now: Date = new Date()): ExperimentOptions {
  rejectUnknown(input);
  const target = resolveTarget(input);
  const { leader } = target;
  const followerCount = target.followers ? target.followers.length : LOCAL_FOLLOWERS;
  const quorums = resolveQuorums(input, followerCount);
  const load = resolveLoad(input);
  const visibility = resolveVisibility(input);
  const timings = resolveTimings(input);
  const trace = parseFraction('trace', input.trace, Math.min(1, (0.9 * DEFAULT_TRACE_CAPACITY) / load.writes));
  const readQuorums = resolveReadQuorums(input, followerCount);
  const output = resolveOutput(input, leader, now);
  const faults = resolveFaults(input, leader, followerCount);
  const nodeSettings = resolveNodeSettings(input, leader);
  const external = resolveExternal(input, leader);
  const { convergenceTimeoutMs, ...otherTimings } = timings;
  const { basePort, out, analyze, progress } = output;
  // The order of the fields is the order of meta.json's options.
  return {
    quorums,
    ...load,
    ...visibility,
    ...otherTimings,
    trace,
    readQuorums,
    convergenceTimeoutMs,
    out,
    ...target,
    basePort,
    analyze,
    progress,
    faults,
    ...nodeSettings,
    ...external,
  };
}
