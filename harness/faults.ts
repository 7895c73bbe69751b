/**
 * The `--fault` syntax: `<action>:<target>@<when>`, e.g. `kill:follower2@2s`, `restart:follower2@5s`,
 * `pause:follower1@1s-3s`, `kill:2@30%`. Parsing is pure, so a bad spec is rejected with the
 * other options, before any node starts.
 *
 *   action  kill (SIGKILL; with a range, restarted at its end), pause (SIGSTOP; with a range,
 *           resumed at its end), restart (kill if running, then start again empty), partition
 *           (drop its traffic both ways with iptables, root only; with a range, healed at its end)
 *   target  follower1..followerN, or a count n: n distinct followers picked with the seeded RNG
 *   when    a duration from the start of the measured load (2s, 500ms, bare = ms) or a share of
 *           the measured writes completed (30%); kill, pause and partition also take a range `a-b` (same unit)
 */
import { parseDurationMs } from '../lib/duration.ts';
import { QuorumLabError } from '../contracts/errors.ts';

export type FaultAction = 'kill' | 'pause' | 'restart' | 'partition';

/** A point of the measured load: ms after it started, or a percentage of its writes completed. */
export type FaultTime = { unit: 'ms'; value: number } | { unit: 'percent'; value: number };

export type FaultTarget = { kind: 'name'; name: string } | { kind: 'count'; count: number };

export interface FaultSpec {
  /** The spec as given (trimmed), for messages and meta.json. */
  text: string;
  action: FaultAction;
  target: FaultTarget;
  at: FaultTime;
  /** End of a kill, pause or partition range: the follower is restarted, resumed or reconnected then. null = at healing. */
  until: FaultTime | null;
}

/** Raised for a bad spec; the options layer turns it into an OptionError for --fault. */
export class FaultSpecError extends QuorumLabError {
  constructor(message: string) {
    super('QL_ERR_FAULT_SPEC', message);
  }
}

const ACTIONS: readonly FaultAction[] = ['kill', 'pause', 'restart', 'partition'];

/** Split the raw option (repeated flags and/or `,` / `;` lists) into trimmed specs. */
export function splitFaultList(raw: string | readonly string[]): string[] {
  const parts = (typeof raw === 'string' ? [raw] : raw).flatMap((s) => String(s).split(/[,;]/));
  const specs = parts.map((s) => s.trim());
  if (specs.some((s) => s === ''))
    throw new FaultSpecError(`empty fault in ${JSON.stringify(typeof raw === 'string' ? raw : raw.join(','))}`);
  return specs;
}

function parseTime(raw: string, spec: string): FaultTime {
  const s = raw.trim();
  if (s.endsWith('%')) {
    const body = s.slice(0, -1).trim();
    const n = /^(\d+(\.\d*)?|\.\d+)$/.test(body) ? Number(body) : NaN;
    if (!Number.isFinite(n) || n > 100)
      throw new FaultSpecError(`${JSON.stringify(spec)}: ${JSON.stringify(s)} is not a percentage in 0%..100%`);
    return { unit: 'percent', value: n };
  }
  let ms: number;
  try {
    ms = parseDurationMs(s, '--fault');
  } catch {
    throw new FaultSpecError(
      `${JSON.stringify(spec)}: cannot parse time ${JSON.stringify(s)} (use a duration such as 2s or 500ms, or a share of the writes such as 30%)`,
    );
  }
  if (!(ms >= 0))
    throw new FaultSpecError(`${JSON.stringify(spec)}: time must not be negative, got ${JSON.stringify(s)}`);
  return { unit: 'ms', value: ms };
}

function parseTarget(raw: string, spec: string, followers: number): FaultTarget {
  const s = raw.trim().toLowerCase();
  if (s === 'leader')
    throw new FaultSpecError(
      `${JSON.stringify(spec)}: the leader cannot be faulted (there is no failover; only followers)`,
    );
  const named = /^follower(\d+)$/.exec(s);
  if (named) {
    const i = Number(named[1]);
    if (i < 1 || i > followers)
      throw new FaultSpecError(
        `${JSON.stringify(spec)}: no follower${i} (followers are follower1..follower${followers})`,
      );
    return { kind: 'name', name: `follower${i}` };
  }
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > followers)
      throw new FaultSpecError(`${JSON.stringify(spec)}: a count of followers must be 1..${followers}, got ${n}`);
    return { kind: 'count', count: n };
  }
  throw new FaultSpecError(
    `${JSON.stringify(spec)}: target ${JSON.stringify(raw.trim())} is neither follower1..follower${followers} nor a count 1..${followers}`,
  );
}

/** Parse one spec against a cluster of `followers` followers. */
export function parseFault(text: string, followers: number): FaultSpec {
  const spec = text.trim();
  const m = /^([^:@]*):([^@]*)@(.*)$/.exec(spec);
  if (!m)
    throw new FaultSpecError(
      `${JSON.stringify(spec)}: expected <action>:<target>@<time>, e.g. kill:follower2@2s or pause:1@10%-40%`,
    );
  const action = m[1]!.trim().toLowerCase() as FaultAction;
  if (!ACTIONS.includes(action))
    throw new FaultSpecError(
      `${JSON.stringify(spec)}: unknown action ${JSON.stringify(m[1]!.trim())} (expected kill, pause, restart or partition)`,
    );
  const target = parseTarget(m[2]!, spec, followers);
  const when = m[3]!.trim();
  if (when === '') throw new FaultSpecError(`${JSON.stringify(spec)}: missing time after @`);
  // Times are never negative, so a '-' separates the two ends of a range (except in an exponent: 1e-3s).
  const dash = when.search(/(?<![eE])-/);
  if (dash < 0) return { text: spec, action, target, at: parseTime(when, spec), until: null };
  if (action === 'restart')
    throw new FaultSpecError(
      `${JSON.stringify(spec)}: restart takes a single time, not a range (ranges are for kill, pause and partition)`,
    );
  const at = parseTime(when.slice(0, dash), spec);
  const until = parseTime(when.slice(dash + 1), spec);
  // With mixed units the end could come first, and the end must act on what the start picked.
  if (at.unit !== until.unit)
    throw new FaultSpecError(
      `${JSON.stringify(spec)}: both ends of a range need the same unit (both durations or both %)`,
    );
  if (!(until.value > at.value))
    throw new FaultSpecError(`${JSON.stringify(spec)}: the range must end after it starts`);
  return { text: spec, action, target, at, until };
}

export function parseFaults(raw: string | readonly string[], followers: number): FaultSpec[] {
  return splitFaultList(raw).map((s) => parseFault(s, followers));
}

export function formatFaultTime(t: FaultTime): string {
  return t.unit === 'percent' ? `${t.value}%` : `${t.value}ms`;
}
