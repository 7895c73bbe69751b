/**
 * After a quorum step: fetch `GET /trace` from every node, decide whether the nodes share the
 * harness's clock, join their records with the client's traced writes, and write trace_q<W>.csv
 * into the run folder. The analysis recomputes every one-clock figure from that file.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { traceCsv } from '../analysis/trace-csv.ts';
import { joinTraces } from '../analysis/trace-join.ts';
import { monotonicUs, type ClientWriteTrace, type TraceDump } from '../contracts/trace.ts';
import type { Control } from './control.ts';

/** A node's clock reading may lie this far outside the request's round trip and still count as shared, µs. */
export const CLOCK_TOLERANCE_US = 1_000;

export interface NodeTraceInfo {
  url: string;
  role: 'leader' | 'follower';
  bootId: string | null;
  /** Node's nowUs minus the midpoint of the harness's request round trip, µs (null: no answer). */
  clockOffsetUs: number | null;
  records: number;
  dropped: number;
  /** Why there is no dump (e.g. a node without GET /trace). */
  error: string | null;
}

export interface TraceCollectReport {
  quorum: number;
  /** True when every node that answered is on the harness's clock; null when none answered. */
  sharedClock: boolean | null;
  /** Why the one-clock figures are empty (null when they are not). */
  note: string | null;
  clientTraces: number;
  joinedWrites: number;
  clientOnly: number;
  leaderOnly: number;
  dropped: number;
  nodes: NodeTraceInfo[];
  /** The file written (name inside the run folder), null when there was nothing to write. */
  file: string | null;
  /** CPU this process spent collecting, joining and writing (the nodes' share of GET /trace not included), s. */
  harnessCpuS: number;
}

/** A reading `nodeNowUs` taken between `beforeUs` and `afterUs` on the harness's clock is on the same clock. */
export function sameClock(
  beforeUs: number,
  nodeNowUs: number,
  afterUs: number,
  toleranceUs = CLOCK_TOLERANCE_US,
): boolean {
  return nodeNowUs >= beforeUs - toleranceUs && nodeNowUs <= afterUs + toleranceUs;
}

async function fetchDump(
  control: Control,
  url: string,
  role: 'leader' | 'follower',
): Promise<{ dump: TraceDump | null; info: NodeTraceInfo }> {
  const beforeUs = monotonicUs();
  try {
    const dump = await control.getJson<TraceDump>(url, '/trace');
    const afterUs = monotonicUs();
    const records = (dump.writes ?? dump.applies ?? []).length;
    const shared = sameClock(beforeUs, dump.nowUs, afterUs);
    const info: NodeTraceInfo = {
      url,
      role,
      bootId: dump.bootId ?? null,
      clockOffsetUs: shared ? 0 : Math.round(dump.nowUs - (beforeUs + afterUs) / 2),
      records,
      dropped: dump.dropped,
      error: null,
    };
    return { dump, info };
  } catch (err) {
    return {
      dump: null,
      info: { url, role, bootId: null, clockOffsetUs: null, records: 0, dropped: 0, error: (err as Error).message },
    };
  }
}

export interface TraceCollectInput {
  control: Control;
  leaderUrl: string;
  followerUrls: readonly string[];
  quorum: number;
  clientTraces: readonly ClientWriteTrace[];
  /** Run folder. */
  dir: string;
}

export async function collectTraces(input: TraceCollectInput): Promise<TraceCollectReport> {
  const cpu0 = process.cpuUsage();
  // All at once: each node serialises its ring while the others do.
  const [leader, ...followers] = await Promise.all([
    fetchDump(input.control, input.leaderUrl, 'leader'),
    ...input.followerUrls.map((u) => fetchDump(input.control, u, 'follower')),
  ]);
  const nodes = [leader.info, ...followers.map((f) => f.info)];
  const answered = nodes.filter((n) => n.clockOffsetUs !== null);
  const sharedClock = answered.length === 0 ? null : answered.every((n) => n.clockOffsetUs === 0);
  const joined = joinTraces({
    quorum: input.quorum,
    followers: input.followerUrls.length,
    clientTraces: input.clientTraces,
    leader: leader.dump,
    followerDumps: followers.map((f) => (f.dump ? [f.dump] : [])),
  });
  let note: string | null = null;
  if (sharedClock === false) {
    const off = answered.filter((n) => n.clockOffsetUs !== 0).map((n) => `${n.url} ${n.clockOffsetUs} µs`);
    note = `the nodes do not share the harness's monotonic clock (${off.join(', ')}): one-clock figures left empty`;
  } else if (sharedClock === null) note = 'no node answered GET /trace: nothing to join';
  let file: string | null = null;
  if (joined.writes.length > 0) {
    file = `trace_q${input.quorum}.csv`;
    await mkdir(input.dir, { recursive: true });
    await writeFile(join(input.dir, file), traceCsv(joined.writes));
  }
  return {
    quorum: input.quorum,
    sharedClock,
    note,
    clientTraces: input.clientTraces.length,
    joinedWrites: joined.writes.length,
    clientOnly: joined.clientOnly,
    leaderOnly: joined.leaderOnly,
    dropped: joined.dropped,
    nodes,
    file,
    harnessCpuS: cpuSince(cpu0),
  };
}

const cpuSince = (start: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
};

/** meta.json `trace`: shared only if every traced step was (false if any was not); undefined when nothing was traced. */
export function traceMeta(
  reports: Record<string, TraceCollectReport>,
): { sharedClock: boolean | null; perQuorum: Record<string, TraceCollectReport> } | undefined {
  const all = Object.values(reports);
  if (all.length === 0) return undefined;
  const flags = all.map((r) => r.sharedClock);
  const sharedClock = flags.includes(false) ? false : flags.includes(true) ? true : null;
  return { sharedClock, perQuorum: reports };
}
