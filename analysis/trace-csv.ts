/**
 * `trace_q<W>.csv` (docs/contracts.md): the joined timelines of one quorum step, one row per
 * write × replica (leader, follower1..N), write-level columns repeated on each row, absolute µs on
 * the shared monotonic clock, empty cells for missing events. Written by the harness, read back
 * by the analysis, so the one-clock figures can be recomputed from the run folder alone.
 */
import { parse } from 'csv-parse/sync';
import { QuorumLabError } from '../contracts/errors.ts';
import { TRACE_TABLE, columnNames } from '../contracts/run-folder.ts';
import type { ClientReadTrace, LeaderLegTrace } from '../contracts/trace.ts';
import type { JoinedLeg, JoinedWrite } from './trace-join.ts';

export const TRACE_COLUMNS = columnNames(TRACE_TABLE);

type Cell = string | number | boolean | null;

/** The columns in the order each row is written; checked against the contract's order below. */
const WRITE_HEAD = ['quorum', 'key', 'version', 'client', 'replica'] as const;
const WRITE_TIMES = [
  'intended_us',
  'client_sent_us',
  'leader_received_us',
  'version_us',
  'quorum_us',
  'response_us',
  'client_received_us',
] as const;
const LEG = [
  'target_delay_us',
  'scheduled_us',
  'fired_us',
  'leg_sent_us',
  'follower_received_us',
  'follower_applied_us',
  'follower_applied',
  'ack_us',
  'leg_outcome',
  'boot_id',
  'visible_us',
] as const;
const READ = ['read_sent_us', 'read_served_us', 'read_received_us', 'read_version', 'read_outcome'] as const;

if ([...WRITE_HEAD, ...WRITE_TIMES, ...LEG, ...READ].join() !== TRACE_COLUMNS.join())
  throw new Error('analysis/trace-csv.ts writes the trace columns in another order than contracts/run-folder.ts');

export class TraceCsvError extends QuorumLabError {
  constructor(message: string) {
    super('QL_ERR_TRACE_CSV', message);
  }
}

/** One CSV cell as csv-stringify writes it: quoted only when it holds a comma, a quote or a line break. */
function cell(v: Cell | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'string') return String(v);
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

const NO_LEG = LEG.map(() => '').join(',');
const NO_READ = READ.map(() => '').join(',');

function readCells(reads: readonly ClientReadTrace[], replica: string): string {
  const r = reads.find((x) => x.replica === replica);
  if (r === undefined) return NO_READ;
  return `${cell(r.sentUs)},${cell(r.servedUs)},${cell(r.receivedUs)},${cell(r.version)},${cell(r.outcome)}`;
}

function legCells(l: JoinedLeg): string {
  return [
    l.targetDelayUs,
    l.scheduledUs,
    l.firedUs,
    l.sentUs,
    l.receivedUs,
    l.appliedUs,
    l.applied,
    l.ackUs,
    l.outcome,
    l.bootId,
    l.visibleUs,
  ]
    .map(cell)
    .join(',');
}

/** The rows of one write: the leader's, then one per follower leg. */
function rowsOf(w: JoinedWrite, out: string[]): void {
  const head = `${cell(w.quorum)},${cell(w.key)},${cell(w.version)},${cell(w.client)}`;
  const times = [
    w.intendedUs,
    w.clientSentUs,
    w.leaderReceivedUs,
    w.versionUs,
    w.quorumUs,
    w.responseUs,
    w.clientReceivedUs,
  ]
    .map(cell)
    .join(',');
  // The leader row has no leg; its visible_us is version_us.
  const leaderLeg = `${NO_LEG}${cell(w.versionUs)}`;
  out.push(`${head},leader,${times},${leaderLeg},${readCells(w.reads, 'leader')}\n`);
  for (const l of w.legs) {
    const replica = `follower${l.follower}`;
    out.push(`${head},${replica},${times},${legCells(l)},${readCells(w.reads, replica)}\n`);
  }
}

/** The CSV text (header row first), written by hand: csv-stringify over 100,000 row objects took seconds. */
export function traceCsv(writes: readonly JoinedWrite[]): string {
  const out = [`${TRACE_COLUMNS.join(',')}\n`];
  for (const w of writes) rowsOf(w, out);
  return out.join('');
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
