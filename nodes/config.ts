/**
 * Node configuration: defaults, validation shared by the factories and the CLI, and parsing of
 * the process environment (see docs/contracts.md, "Environment of a node process").
 */
import { DurationError, parseDurationMs } from '../lib/duration.ts';
import { TokenError, validateToken } from './auth.ts';
import { DEFAULT_LEADER_PRIORITY, LEADER_PRIORITIES, type LeaderPriority } from './priority.ts';
import { QuorumLabError } from '../contracts/errors.ts';

export type Role = 'leader' | 'follower';
export type SchedulerStrategy = 'precise' | 'timeout';
/** HTTP server of a node: plain node:http dispatch, or the Express app (issue 10). */
export type ServerKind = 'http' | 'express';
export const SERVER_KINDS: readonly ServerKind[] = ['http', 'express'];

export const DEFAULT_PORT = 5000;
export const DEFAULT_HOST = '127.0.0.1';
/** Default W; capped at the number of followers when there are fewer than three. */
export const DEFAULT_WRITE_QUORUM = 3;
export const DEFAULT_MIN_DELAY_MS = 0.1;
export const DEFAULT_MAX_DELAY_MS = 1;
export const DEFAULT_QUORUM_TIMEOUT_MS = 2000;
/** Bound on one replication request (connect, headers and body each), ms. */
export const DEFAULT_REPLICATION_TIMEOUT_MS = 5000;
export const DEFAULT_SCHEDULER: SchedulerStrategy = 'precise';
/** node:http: it costs less CPU per request (bench/express-vs-http.ts). */
export const DEFAULT_SERVER: ServerKind = 'http';

/** A configuration problem; `option` names the setting (env var or option name). */
export class ConfigError extends QuorumLabError {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super('QL_ERR_CONFIG', `${option}: ${message}`);
  }
}

/** Settings of a leader process. */
export interface LeaderEnvConfig {
  role: 'leader';
  port: number;
  host: string;
  /** SERVER: which HTTP server serves the routes. */
  server: ServerKind;
  followers: string[];
  writeQuorum: number;
  minDelayMs: number;
  maxDelayMs: number;
  quorumTimeoutMs: number;
  replicationTimeoutMs: number;
  delaySeed?: number;
  scheduler: SchedulerStrategy;
  /** LEADER_PRIORITY: priority of the leader's replication thread (nodes/priority.ts). */
  leaderPriority: LeaderPriority;
  /** REPLICATION_TOKEN: sent to followers, required on PUT /config and POST /stats/reset. */
  replicationToken?: string;
  /** TRACE_CAPACITY: traced writes kept for GET /trace (contracts/trace.ts). */
  traceCapacity?: number;
}

/** Settings of a follower process. */
export interface FollowerEnvConfig {
  role: 'follower';
  port: number;
  host: string;
  /** SERVER: which HTTP server serves the routes. */
  server: ServerKind;
  /** Where writes should go, reported in 403 read_only answers (optional). */
  leaderUrl?: string;
  /** REPLICATION_TOKEN: required on /replicate, /snapshot and POST /stats/reset. */
  replicationToken?: string;
  /** TRACE_CAPACITY: traced applies kept for GET /trace (contracts/trace.ts). */
  traceCapacity?: number;
}

export type NodeEnvConfig = LeaderEnvConfig | FollowerEnvConfig;

type Env = Record<string, string | undefined>;

function opt(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Parse a non-negative integer written in decimal digits. */
export function parseIntegerOption(input: string | number, option: string, min: number, max: number): number {
  const n = typeof input === 'number' ? input : /^\s*\d+\s*$/.test(input) ? Number(input) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(option, `expected an integer in ${min}..${max}, got ${JSON.stringify(input)}`);
  }
  return n;
}

export function parsePort(input: string | number, option = 'PORT'): number {
  return parseIntegerOption(input, option, 0, 65535);
}

/** Normalise one node base URL to its origin (`http://host:port`), rejecting paths, queries and credentials. */
export function parseNodeUrl(input: string, option: string): string {
  let u: URL;
  try {
    u = new URL(input.trim());
  } catch {
    throw new ConfigError(option, `${JSON.stringify(input)} is not a URL (expected e.g. http://127.0.0.1:8001)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigError(option, `${JSON.stringify(input)}: only http:// and https:// URLs are supported`);
  }
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username || u.password) {
    throw new ConfigError(
      option,
      `${JSON.stringify(input)}: give the node's base URL only (no path, query or credentials)`,
    );
  }
  return u.origin;
}

/** Validate a list of follower URLs: at least one, each a base URL, no duplicates. */
export function validateFollowerUrls(urls: readonly string[], option = 'FOLLOWERS'): string[] {
  if (urls.length === 0) throw new ConfigError(option, 'a leader needs at least one follower URL');
  const out = urls.map((u) => parseNodeUrl(u, option));
  const seen = new Set<string>();
  for (const u of out) {
    if (seen.has(u)) throw new ConfigError(option, `follower ${u} is listed twice`);
    seen.add(u);
  }
  return out;
}

/** W must be an integer in 1..followers. */
export function validateWriteQuorum(w: unknown, followers: number, option = 'WRITE_QUORUM'): number {
  if (typeof w !== 'number' || !Number.isInteger(w) || w < 1 || w > followers) {
    throw new ConfigError(
      option,
      `must be an integer in 1..${followers} (the number of followers), got ${JSON.stringify(w)}`,
    );
  }
  return w;
}

export function validateDelays(minDelayMs: number, maxDelayMs: number): void {
  for (const [name, v] of [
    ['MIN_DELAY', minDelayMs],
    ['MAX_DELAY', maxDelayMs],
  ] as const) {
    if (!Number.isFinite(v) || v < 0) throw new ConfigError(name, `must be a finite duration ≥ 0, got ${v}`);
  }
  if (minDelayMs > maxDelayMs) {
    throw new ConfigError('MIN_DELAY', `must not exceed MAX_DELAY (${minDelayMs} ms > ${maxDelayMs} ms)`);
  }
}

export function parseLeaderPriority(input: string, option = 'LEADER_PRIORITY'): LeaderPriority {
  if ((LEADER_PRIORITIES as readonly string[]).includes(input)) return input as LeaderPriority;
  throw new ConfigError(option, `must be one of ${LEADER_PRIORITIES.join(', ')}, got ${JSON.stringify(input)}`);
}

export function parseServerKind(input: string, option = 'SERVER'): ServerKind {
  if ((SERVER_KINDS as readonly string[]).includes(input)) return input as ServerKind;
  throw new ConfigError(option, `must be one of ${SERVER_KINDS.join(', ')}, got ${JSON.stringify(input)}`);
}

export function parseScheduler(input: string, option = 'SCHEDULER'): SchedulerStrategy {
  if (input === 'precise' || input === 'timeout') return input;
  throw new ConfigError(option, `must be "precise" or "timeout", got ${JSON.stringify(input)}`);
}

/** DELAY_SEED: an unsigned 32-bit integer (the PRNG's state size). */
export function parseSeed(input: string | number, option = 'DELAY_SEED'): number {
  return parseIntegerOption(input, option, 0, 0xffffffff);
}

function duration(env: Env, name: string, fallbackMs: number): number {
  const raw = opt(env, name);
  if (raw === undefined) return fallbackMs;
  try {
    return parseDurationMs(raw, name);
  } catch (err) {
    if (err instanceof DurationError) throw new ConfigError(name, err.message.replace(`${name}: `, ''));
    throw err;
  }
}

function positiveDuration(env: Env, name: string, fallbackMs: number): number {
  const ms = duration(env, name, fallbackMs);
  if (ms <= 0) throw new ConfigError(name, 'must be greater than 0');
  return ms;
}

/** REPLICATION_TOKEN, validated; undefined when unset or blank. */
export function parseTokenEnv(env: Env): { replicationToken?: string } {
  const raw = env.REPLICATION_TOKEN;
  if (raw === undefined || raw === '') return {};
  try {
    return { replicationToken: validateToken(raw) };
  } catch (err) {
    if (err instanceof TokenError) throw new ConfigError('REPLICATION_TOKEN', err.message);
    throw err;
  }
}

/** TRACE_CAPACITY: a positive integer (records); absent = the node's default. */
function parseTraceCapacity(env: Env): { traceCapacity?: number } {
  const raw = opt(env, 'TRACE_CAPACITY');
  if (raw === undefined) return {};
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) {
    throw new ConfigError(
      'TRACE_CAPACITY',
      `must be a positive integer (records kept for GET /trace), got ${JSON.stringify(raw)}`,
    );
  }
  return { traceCapacity: Number(raw) };
}

/** Parse and validate a node's environment. Throws ConfigError naming the offending variable. */
export function parseNodeEnv(env: Env): NodeEnvConfig {
  const roleRaw = opt(env, 'ROLE');
  if (roleRaw !== 'leader' && roleRaw !== 'follower') {
    throw new ConfigError(
      'ROLE',
      env.ROLE === undefined
        ? 'is required: "leader" or "follower" (`npm run node -- --help` lists every variable)'
        : `must be "leader" or "follower", got ${JSON.stringify(env.ROLE)}`,
    );
  }
  const portRaw = opt(env, 'PORT');
  const port = portRaw === undefined ? DEFAULT_PORT : parsePort(portRaw);
  const host = opt(env, 'HOST') ?? DEFAULT_HOST;
  const serverRaw = opt(env, 'SERVER');
  const server = serverRaw === undefined ? DEFAULT_SERVER : parseServerKind(serverRaw);

  if (roleRaw === 'follower') {
    const leader = opt(env, 'LEADER_URL');
    return {
      role: 'follower',
      port,
      host,
      server,
      ...(leader ? { leaderUrl: parseNodeUrl(leader, 'LEADER_URL') } : {}),
      ...parseTokenEnv(env),
      ...parseTraceCapacity(env),
    };
  }

  const followersRaw = opt(env, 'FOLLOWERS');
  if (followersRaw === undefined)
    throw new ConfigError('FOLLOWERS', 'required for the leader (comma-separated follower base URLs)');
  const followers = validateFollowerUrls(followersRaw.split(','));
  const wRaw = opt(env, 'WRITE_QUORUM');
  const writeQuorum =
    wRaw === undefined
      ? Math.min(DEFAULT_WRITE_QUORUM, followers.length)
      : validateWriteQuorum(/^\d+$/.test(wRaw) ? Number(wRaw) : wRaw, followers.length);
  const minDelayMs = duration(env, 'MIN_DELAY', DEFAULT_MIN_DELAY_MS);
  const maxDelayMs = duration(env, 'MAX_DELAY', DEFAULT_MAX_DELAY_MS);
  validateDelays(minDelayMs, maxDelayMs);
  const seedRaw = opt(env, 'DELAY_SEED');
  const schedRaw = opt(env, 'SCHEDULER');
  const priorityRaw = opt(env, 'LEADER_PRIORITY');
  return {
    role: 'leader',
    port,
    host,
    server,
    followers,
    writeQuorum,
    minDelayMs,
    maxDelayMs,
    quorumTimeoutMs: positiveDuration(env, 'QUORUM_TIMEOUT', DEFAULT_QUORUM_TIMEOUT_MS),
    replicationTimeoutMs: positiveDuration(env, 'REPLICATION_TIMEOUT', DEFAULT_REPLICATION_TIMEOUT_MS),
    ...(seedRaw === undefined ? {} : { delaySeed: parseSeed(seedRaw) }),
    scheduler: schedRaw === undefined ? DEFAULT_SCHEDULER : parseScheduler(schedRaw),
    leaderPriority: priorityRaw === undefined ? DEFAULT_LEADER_PRIORITY : parseLeaderPriority(priorityRaw),
    ...parseTokenEnv(env),
    ...parseTraceCapacity(env),
  };
}
