/**
 * `trace_q<W>.csv` (docs/contracts.md): the joined timelines of one quorum step, one row per
 * write × replica (leader, follower1..N), write-level columns repeated on each row, absolute µs on
 * the shared monotonic clock, empty cells for missing events. Written by the harness, read back
 * by the analysis, so the one-clock figures can be recomputed from the run folder alone.
 */
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { QuorumLabError } from '../contracts/errors.ts';
import { TRACE_TABLE, columnNames } from '../contracts/run-folder.ts';
import type { ClientReadTrace, LeaderLegTrace } from '../contracts/trace.ts';
import type { JoinedLeg, JoinedWrite } from './trace-join.ts';

export const TRACE_COLUMNS = columnNames(TRACE_TABLE);

type Cell = string | number | boolean | null;
type Row = Record<(typeof TRACE_COLUMNS)[number], Cell>;

export class TraceCsvError extends QuorumLabError {
  constructor(message: string) {
    super('QL_ERR_TRACE_CSV', message);
  }
}

function rowsOf(w: JoinedWrite): Row[] {
  const base = {
    quorum: w.quorum,
    key: w.key,
    version: w.version,
    client: w.client,
    intended_us: w.intendedUs,
    client_sent_us: w.clientSentUs,
    leader_received_us: w.leaderReceivedUs,
    version_us: w.versionUs,
    quorum_us: w.quorumUs,
    response_us: w.responseUs,
    client_received_us: w.clientReceivedUs,
  };
  const read = (replica: string) => {
    const r = w.reads.find((x) => x.replica === replica);
    return {
      read_sent_us: r?.sentUs ?? null,
      read_served_us: r?.servedUs ?? null,
      read_received_us: r?.receivedUs ?? null,
      read_version: r?.version ?? null,
      read_outcome: r?.outcome ?? null,
    };
  };
  const noLeg = {
    target_delay_us: null,
    scheduled_us: null,
    fired_us: null,
    leg_sent_us: null,
    follower_received_us: null,
    follower_applied_us: null,
    follower_applied: null,
    ack_us: null,
    leg_outcome: null,
    boot_id: null,
  };
  const rows: Row[] = [{ ...base, replica: 'leader', ...noLeg, visible_us: w.versionUs, ...read('leader') }];
  for (const l of w.legs) {
    const replica = `follower${l.follower}`;
    rows.push({
      ...base,
      replica,
      target_delay_us: l.targetDelayUs,
      scheduled_us: l.scheduledUs,
      fired_us: l.firedUs,
      leg_sent_us: l.sentUs,
      follower_received_us: l.receivedUs,
      follower_applied_us: l.appliedUs,
      follower_applied: l.applied,
      ack_us: l.ackUs,
      leg_outcome: l.outcome,
      boot_id: l.bootId,
      visible_us: l.visibleUs,
      ...read(replica),
    });
  }
  return rows;
}

export function traceCsv(writes: readonly JoinedWrite[]): string {
  return stringify(writes.flatMap(rowsOf), {
    header: true,
    columns: [...TRACE_COLUMNS],
    cast: { boolean: (b) => (b ? 'true' : 'false') },
  });
}

const num = (s: string | undefined, what: string): number | null => {
  if (s === undefined || s === '') return null;
  const n = Number(s);
  if (!Number.isFinite(n)) throw new TraceCsvError(`${what}: not a number: ${JSON.stringify(s)}`);
  return n;
};

function legOf(r: Record<string, string>, follower: number, at: string): JoinedLeg {
  const n = (c: string) => num(r[c], `${at} ${c}`);
  return {
    follower,
    targetDelayUs: n('target_delay_us'),
    scheduledUs: n('scheduled_us'),
    firedUs: n('fired_us'),
    sentUs: n('leg_sent_us'),
    ackUs: n('ack_us'),
    outcome: (r.leg_outcome || null) as LeaderLegTrace['outcome'] | null,
    receivedUs: n('follower_received_us'),
    appliedUs: n('follower_applied_us'),
    applied: r.follower_applied === '' || r.follower_applied === undefined ? null : r.follower_applied === 'true',
    bootId: r.boot_id || null,
    visibleUs: n('visible_us'),
  };
}

function readOf(r: Record<string, string>, at: string): ClientReadTrace | null {
  if (!r.read_outcome) return null;
  const n = (c: string) => num(r[c], `${at} ${c}`);
  return {
    replica: r.replica!,
    sentUs: n('read_sent_us') ?? 0,
    servedUs: n('read_served_us'),
    receivedUs: n('read_received_us') ?? 0,
    version: n('read_version'),
    outcome: r.read_outcome as ClientReadTrace['outcome'],
  };
}

/** Parse a trace CSV back into joined writes (the inverse of traceCsv). `file` names it in errors. */
export function parseTraceCsv(text: string, file = 'trace.csv'): JoinedWrite[] {
  const records = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  const missing = TRACE_COLUMNS.filter((c) => records.length > 0 && !(c in records[0]!));
  if (missing.length > 0) throw new TraceCsvError(`${file}: missing column(s) ${missing.join(', ')}`);
  const writes = new Map<string, JoinedWrite>();
  records.forEach((r, i) => {
    const at = `${file} line ${i + 2}`;
    const n = (c: string) => num(r[c], `${at} ${c}`);
    const k = `${r.quorum}\u0000${r.version}\u0000${r.key}`;
    let w = writes.get(k);
    if (w === undefined) {
      w = {
        quorum: n('quorum')!,
        key: r.key!,
        version: n('version')!,
        client: n('client'),
        intendedUs: n('intended_us'),
        clientSentUs: n('client_sent_us'),
        clientReceivedUs: n('client_received_us'),
        leaderReceivedUs: n('leader_received_us'),
        versionUs: n('version_us'),
        quorumUs: n('quorum_us'),
        responseUs: n('response_us'),
        legs: [],
        reads: [],
      };
      writes.set(k, w);
    }
    const m = /^follower(\d+)$/.exec(r.replica ?? '');
    if (m) w.legs.push(legOf(r, Number(m[1]), at));
    else if (r.replica !== 'leader')
      throw new TraceCsvError(`${at}: replica must be leader or followerN, got ${JSON.stringify(r.replica)}`);
    const read = readOf(r, at);
    if (read) w.reads.push(read);
  });
  return [...writes.values()];
}
