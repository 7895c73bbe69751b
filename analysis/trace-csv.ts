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

type Column = (typeof TRACE_COLUMNS)[number];

/** One data row of the file: its cells by column name, and where it is (for errors). A class: no closures per row. */
class RowView {
  constructor(
    private readonly cells: readonly string[],
    private readonly index: Readonly<Record<Column, number>>,
    private readonly file: string,
    private readonly line: number,
  ) {}

  at(): string {
    return `${this.file} line ${this.line}`;
  }

  text(c: Column): string | undefined {
    return this.cells[this.index[c]];
  }

  num(c: Column): number | null {
    const s = this.cells[this.index[c]];
    if (s === undefined || s === '') return null;
    const n = Number(s);
    if (!Number.isFinite(n)) throw new TraceCsvError(`${this.at()} ${c}: not a number: ${JSON.stringify(s)}`);
    return n;
  }
}

function legOf(r: RowView, follower: number): JoinedLeg {
  const applied = r.text('follower_applied');
  return {
    follower,
    targetDelayUs: r.num('target_delay_us'),
    scheduledUs: r.num('scheduled_us'),
    firedUs: r.num('fired_us'),
    sentUs: r.num('leg_sent_us'),
    ackUs: r.num('ack_us'),
    outcome: (r.text('leg_outcome') || null) as LeaderLegTrace['outcome'] | null,
    receivedUs: r.num('follower_received_us'),
    appliedUs: r.num('follower_applied_us'),
    applied: applied === '' || applied === undefined ? null : applied === 'true',
    bootId: r.text('boot_id') || null,
    visibleUs: r.num('visible_us'),
  };
}

function readOf(r: RowView): ClientReadTrace | null {
  const outcome = r.text('read_outcome');
  if (!outcome) return null;
  return {
    replica: r.text('replica')!,
    sentUs: r.num('read_sent_us') ?? 0,
    servedUs: r.num('read_served_us'),
    receivedUs: r.num('read_received_us') ?? 0,
    version: r.num('read_version'),
    outcome: outcome as ClientReadTrace['outcome'],
  };
}

function writeOf(r: RowView): JoinedWrite {
  return {
    quorum: r.num('quorum')!,
    key: r.text('key')!,
    version: r.num('version')!,
    client: r.num('client'),
    intendedUs: r.num('intended_us'),
    clientSentUs: r.num('client_sent_us'),
    clientReceivedUs: r.num('client_received_us'),
    leaderReceivedUs: r.num('leader_received_us'),
    versionUs: r.num('version_us'),
    quorumUs: r.num('quorum_us'),
    responseUs: r.num('response_us'),
    legs: [],
    reads: [],
  };
}

/** Rows of cells. What traceCsv writes has no quotes unless a key or boot id needs them: then the full parser. */
function csvRows(text: string): string[][] {
  if (/["\r]/.test(text)) return parse(text, { skip_empty_lines: true }) as string[][];
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split(','));
}

/** Parse a trace CSV back into joined writes (the inverse of traceCsv). `file` names it in errors. */
export function parseTraceCsv(text: string, file = 'trace.csv'): JoinedWrite[] {
  const rows = csvRows(text);
  const header = rows[0] ?? [];
  const missing = TRACE_COLUMNS.filter((c) => rows.length > 1 && !header.includes(c));
  if (missing.length > 0) throw new TraceCsvError(`${file}: missing column(s) ${missing.join(', ')}`);
  const index = Object.fromEntries(TRACE_COLUMNS.map((c) => [c, header.indexOf(c)])) as Record<Column, number>;
  const writes = new Map<string, JoinedWrite>();
  for (let i = 1; i < rows.length; i++) {
    const r = new RowView(rows[i]!, index, file, i + 1);
    const k = `${r.text('quorum')}\u0000${r.text('version')}\u0000${r.text('key')}`;
    let w = writes.get(k);
    if (w === undefined) {
      w = writeOf(r);
      writes.set(k, w);
    }
    const replica = r.text('replica') ?? '';
    const m = /^follower(\d+)$/.exec(replica);
    if (m) w.legs.push(legOf(r, Number(m[1])));
    else if (replica !== 'leader')
      throw new TraceCsvError(`${r.at()}: replica must be leader or followerN, got ${JSON.stringify(replica)}`);
    const read = readOf(r);
    if (read) w.reads.push(read);
  }
  return [...writes.values()];
}
