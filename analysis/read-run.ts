/**
 * Loading a run folder (contracts/run-folder.ts) with strict validation: the analysis
 * should fail loudly, naming the file, line and column, rather than plot a silently wrong number.
 * Extra columns are allowed (the harness may add some); missing ones are not.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { QuorumLabError } from '../contracts/errors.ts';
import { checkMeta, type RunMeta } from '../contracts/meta.ts';
import {
  AVAILABILITY_TABLE,
  type ColumnKind,
  kindsOf,
  LATENCY_PERCENTILES_TABLE,
  STALE_COUNTS_TABLE,
  STALENESS_TABLE,
  SUMMARY_TABLE,
  VISIBILITY_TABLE,
  OBSERVED_READ_QUORUMS_TABLE,
} from '../contracts/run-folder.ts';

export type RunDataErrorCode =
  | 'QL_ERR_RUN_DIR'
  | 'QL_ERR_RUN_MISSING_FILE'
  | 'QL_ERR_RUN_CSV_SYNTAX'
  | 'QL_ERR_RUN_MISSING_COLUMN'
  | 'QL_ERR_RUN_BAD_VALUE'
  | 'QL_ERR_RUN_BAD_JSON'
  | 'QL_ERR_RUN_EMPTY';

export class RunDataError extends QuorumLabError {
  declare readonly code: RunDataErrorCode;
  constructor(
    code: RunDataErrorCode,
    /** The file's name inside the run folder (or the folder itself for QL_ERR_RUN_DIR). */
    readonly file: string,
    message: string,
    /** 1-based line in the file (the header is line 1), when the problem has one. */
    readonly line?: number,
    readonly column?: string,
  ) {
    super(code, message);
  }
}

type Kind = ColumnKind;
type ValueOf<K extends Kind> = K extends 'int' | 'num'
  ? number
  : K extends 'int?' | 'num?'
    ? number | null
    : K extends 'bool'
      ? boolean
      : string;
type Spec = Readonly<Record<string, Kind>>;
type RowOf<S extends Spec> = { -readonly [C in keyof S]: ValueOf<S[C]> } & { line: number };

// The kinds come from the one definition of each table in contracts/run-folder.ts.
export const SUMMARY_SPEC = kindsOf(SUMMARY_TABLE.columns);
export const SUMMARY_OPTIONAL_SPEC = kindsOf(SUMMARY_TABLE.optional);
export const LATENCY_PERCENTILES_SPEC = kindsOf(LATENCY_PERCENTILES_TABLE.columns);
export const STALENESS_SPEC = kindsOf(STALENESS_TABLE.columns);
export const STALENESS_OPTIONAL_SPEC = kindsOf(STALENESS_TABLE.optional);
export const STALE_COUNTS_SPEC = kindsOf(STALE_COUNTS_TABLE.columns);
export const AVAILABILITY_SPEC = kindsOf(AVAILABILITY_TABLE.columns);
export const AVAILABILITY_OPTIONAL_SPEC = kindsOf(AVAILABILITY_TABLE.optional);
export const VISIBILITY_SPEC = kindsOf(VISIBILITY_TABLE.columns);
export const VISIBILITY_OPTIONAL_SPEC = kindsOf(VISIBILITY_TABLE.optional);
export const OBSERVED_READ_QUORUMS_SPEC = kindsOf(OBSERVED_READ_QUORUMS_TABLE.columns);
export type ObservedReadQuorumRow = RowOf<typeof OBSERVED_READ_QUORUMS_SPEC>;

/** observed_read_quorums.csv of a --read-quorum run; [] when the run did not ask for it. */
export async function readObservedReadQuorums(dir: string): Promise<ObservedReadQuorumRow[]> {
  const text = await readText(dir, OBSERVED_READ_QUORUMS_TABLE.file, true);
  return text === null ? [] : parseTable(text, OBSERVED_READ_QUORUMS_TABLE.file, OBSERVED_READ_QUORUMS_SPEC);
}

export const AVAILABILITY_WINDOWS = ['all', 'fault', 'normal'] as const;
export type AvailabilityWindow = (typeof AVAILABILITY_WINDOWS)[number];

/** `lost_writes` / `unknown_outcome_writes` are null when the run's summary.csv predates them. */
export type SummaryRow = RowOf<typeof SUMMARY_SPEC> &
  Partial<Omit<RowOf<typeof SUMMARY_OPTIONAL_SPEC>, 'lost_writes' | 'unknown_outcome_writes'>> & {
    lost_writes: number | null;
    unknown_outcome_writes: number | null;
  };
/** The optional columns are undefined in runs that predate them. */
export type AvailabilityRow = Omit<RowOf<typeof AVAILABILITY_SPEC>, 'window'> & {
  window: AvailabilityWindow;
} & Partial<RowOf<typeof AVAILABILITY_OPTIONAL_SPEC>>;
export type LatencyPercentileRow = RowOf<typeof LATENCY_PERCENTILES_SPEC>;
export type StalenessRow = RowOf<typeof STALENESS_SPEC>;
export type StaleCountRow = RowOf<typeof STALE_COUNTS_SPEC>;
/** `realised_offset_mean_us` is an optional extra column some harness versions write. */
export type VisibilityRow = RowOf<typeof VISIBILITY_SPEC> & { realised_offset_mean_us: number | null };

export interface RunData {
  dir: string;
  summary: SummaryRow[];
  latencyPercentiles: LatencyPercentileRow[];
  staleness: StalenessRow[];
  staleCounts: StaleCountRow[];
  /** null when the run had no --visibility (visibility.csv absent). */
  visibility: VisibilityRow[] | null;
  /** null when the run folder has no availability.csv (runs before the fault work). `fault`/`normal` rows only with --fault. */
  availability: AvailabilityRow[] | null;
  meta: RunMeta;
  /** N, the followers per cluster: the largest stale_followers value in stale_counts.csv (5 if empty). */
  followers: number;
}

/**
 * RFC 4180 CSV (what csv-stringify writes), parsed by csv-parse. Returns records with their line
 * (for a record spanning lines, the line it ends on); blank lines are skipped.
 */
export function parseCsv(text: string, file: string): { fields: string[]; line: number }[] {
  try {
    const records = parse(text, { info: true, relax_column_count: true, skip_empty_lines: true }) as unknown as {
      record: string[];
      info: { lines: number };
    }[];
    return records.map(({ record, info }) => ({ fields: record, line: info.lines }));
  } catch (err) {
    const line = (err as { lines?: number }).lines;
    const where = line === undefined ? '' : ` line ${line}`;
    throw new RunDataError('QL_ERR_RUN_CSV_SYNTAX', file, `${file}${where}: ${(err as Error).message}`, line);
  }
}

const INT = /^[+-]?\d+$/;
const NUM = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseCell(kind: Kind, raw: string, file: string, line: number, column: string): unknown {
  const value = raw.trim();
  const fail = (why: string): never => {
    throw new RunDataError(
      'QL_ERR_RUN_BAD_VALUE',
      file,
      `${file} line ${line}, column ${column}: ${why} (got ${JSON.stringify(raw)})`,
      line,
      column,
    );
  };
  if (kind === 'str') return value;
  if (kind === 'bool') {
    if (value === 'true') return true;
    if (value === 'false') return false;
    return fail('expected true or false');
  }
  if (value === '') return kind.endsWith('?') ? null : fail('empty, a number is required');
  if (kind.startsWith('int')) return INT.test(value) ? Number(value) : fail('expected an integer');
  return NUM.test(value) && Number.isFinite(Number(value)) ? Number(value) : fail('expected a number');
}

/**
 * Parse one CSV table against a column spec. Columns in `optionalSpec` may be absent from the
 * header (then undefined in every row); when present they are validated like the others.
 */
export function parseTable<S extends Spec, O extends Spec = Record<never, Kind>>(
  text: string,
  file: string,
  spec: S,
  optionalSpec?: O,
): (RowOf<S> & Partial<RowOf<O>>)[] {
  const records = parseCsv(text, file);
  if (records.length === 0)
    throw new RunDataError('QL_ERR_RUN_MISSING_COLUMN', file, `${file}: empty file, expected a header row`, 1);
  const header = records[0]!.fields.map((h) => h.trim());
  const index = new Map<string, number>();
  for (const column of Object.keys(spec)) {
    const at = header.indexOf(column);
    if (at < 0) {
      throw new RunDataError(
        'QL_ERR_RUN_MISSING_COLUMN',
        file,
        `${file}: missing column ${column} (header: ${header.join(',')})`,
        1,
        column,
      );
    }
    index.set(column, at);
  }
  const columns: [string, Kind][] = Object.entries(spec);
  for (const [column, kind] of Object.entries(optionalSpec ?? {})) {
    const at = header.indexOf(column);
    if (at >= 0) {
      index.set(column, at);
      columns.push([column, kind]);
    }
  }
  return records.slice(1).map(({ fields, line }) => {
    if (fields.length !== header.length) {
      throw new RunDataError(
        'QL_ERR_RUN_CSV_SYNTAX',
        file,
        `${file} line ${line}: ${fields.length} fields, the header has ${header.length}`,
        line,
      );
    }
    const row: Record<string, unknown> = { line };
    for (const [column, kind] of columns)
      row[column] = parseCell(kind, fields[index.get(column)!]!, file, line, column);
    return row as RowOf<S> & Partial<RowOf<O>>;
  });
}

function badValue(file: string, line: number, column: string, why: string): RunDataError {
  return new RunDataError('QL_ERR_RUN_BAD_VALUE', file, `${file} line ${line}, column ${column}: ${why}`, line, column);
}

function checkRange(
  file: string,
  rows: readonly Record<string, unknown>[],
  column: string,
  min: number,
  max: number,
): void {
  for (const row of rows) {
    const v = row[column];
    if (typeof v === 'number' && (v < min || v > max))
      throw badValue(file, row.line as number, column, `${v} is outside ${min}..${max}`);
  }
}

async function readText(dir: string, file: string, optional: boolean): Promise<string | null> {
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (optional) return null;
      throw new RunDataError('QL_ERR_RUN_MISSING_FILE', file, `${file}: missing from the run folder ${dir}`);
    }
    throw new RunDataError('QL_ERR_RUN_MISSING_FILE', file, `${file}: cannot be read (${(err as Error).message})`);
  }
}

function parseMeta(text: string): RunMeta {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RunDataError('QL_ERR_RUN_BAD_JSON', 'meta.json', `meta.json: not valid JSON (${(err as Error).message})`);
  }
  const checked = checkMeta(value);
  if ('problem' in checked) throw new RunDataError('QL_ERR_RUN_BAD_JSON', 'meta.json', `meta.json: ${checked.problem}`);
  return checked.meta;
}

/** Load and validate every file of a run folder. */
export async function readRun(dir: string): Promise<RunData> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory())
    throw new RunDataError('QL_ERR_RUN_DIR', dir, `${dir}: not a run folder (no such directory)`);

  const load = async <S extends Spec>(file: string, spec: S): Promise<RowOf<S>[]> =>
    parseTable((await readText(dir, file, false))!, file, spec);
  const summary = parseTable(
    (await readText(dir, 'summary.csv', false))!,
    'summary.csv',
    SUMMARY_SPEC,
    SUMMARY_OPTIONAL_SPEC,
  ).map(
    (row) =>
      ({
        ...row,
        lost_writes: row.lost_writes ?? null,
        unknown_outcome_writes: row.unknown_outcome_writes ?? null,
      }) as SummaryRow,
  );
  if (summary.length === 0)
    throw new RunDataError('QL_ERR_RUN_EMPTY', 'summary.csv', 'summary.csv: no rows (the run measured no quorum)');
  const latencyPercentiles = await load('latency_percentiles.csv', LATENCY_PERCENTILES_SPEC);
  const staleness: StalenessRow[] = parseTable(
    (await readText(dir, 'staleness.csv', false))!,
    'staleness.csv',
    STALENESS_SPEC,
    STALENESS_OPTIONAL_SPEC,
  );
  const staleCounts = await load('stale_counts.csv', STALE_COUNTS_SPEC);
  const visibilityText = await readText(dir, 'visibility.csv', true);
  const visibility =
    visibilityText === null
      ? null
      : parseTable(visibilityText, 'visibility.csv', VISIBILITY_SPEC, VISIBILITY_OPTIONAL_SPEC).map(
          (row) => ({ ...row, realised_offset_mean_us: row.realised_offset_mean_us ?? null }) as VisibilityRow,
        );

  const availabilityText = await readText(dir, 'availability.csv', true);
  const availability = availabilityText === null ? null : parseAvailability(availabilityText);

  const metaText = (await readText(dir, 'meta.json', false))!;
  const meta = parseMeta(metaText);

  // Semantic checks: values a correct harness cannot produce.
  for (const [file, rows] of [
    ['summary.csv', summary],
    ['latency_percentiles.csv', latencyPercentiles],
    ['staleness.csv', staleness],
    ['stale_counts.csv', staleCounts],
    ['visibility.csv', visibility ?? []],
    ['availability.csv', availability ?? []],
  ] as const) {
    checkRange(file, rows, 'quorum', 1, Number.MAX_SAFE_INTEGER);
  }
  checkRange('summary.csv', summary, 'stale_fraction', 0, 1);
  checkRange('summary.csv', summary, 'min_delay_ms', 0, Number.MAX_VALUE);
  checkRange('latency_percentiles.csv', latencyPercentiles, 'percentile', 0, 100);
  checkRange('staleness.csv', staleness, 'stale_fraction', 0, 1);
  checkRange('stale_counts.csv', staleCounts, 'stale_followers', 0, 1000);
  checkRange('stale_counts.csv', staleCounts, 'writes', 0, Number.MAX_SAFE_INTEGER);
  if (visibility) checkRange('visibility.csv', visibility, 'fully_visible_fraction', 0, 1);
  for (const row of summary) {
    if (row.max_delay_ms < row.min_delay_ms)
      throw badValue('summary.csv', row.line, 'max_delay_ms', `${row.max_delay_ms} < min_delay_ms ${row.min_delay_ms}`);
  }
  for (const row of staleness) {
    if (!/^(leader|follower\d+)$/.test(row.replica))
      throw badValue(
        'staleness.csv',
        row.line,
        'replica',
        `expected leader or follower<n>, got ${JSON.stringify(row.replica)}`,
      );
  }
  const seen = new Set<number>();
  for (const row of summary) {
    if (seen.has(row.quorum)) throw badValue('summary.csv', row.line, 'quorum', `quorum ${row.quorum} appears twice`);
    seen.add(row.quorum);
  }

  const followers = staleCounts.reduce((m, r) => Math.max(m, r.stale_followers), 0) || 5;
  return { dir, summary, latencyPercentiles, staleness, staleCounts, visibility, availability, meta, followers };
}

/**
 * availability.csv (contracts/run-folder.ts): strict like the other CSVs, plus the checks a correct
 * harness always passes: a known window, ok ≤ attempted, availability in 0..1 and equal to
 * ok/attempted (empty iff nothing was attempted), one row per (quorum, window).
 */
export function parseAvailability(text: string): AvailabilityRow[] {
  const file = 'availability.csv';
  const rows = parseTable(text, file, AVAILABILITY_SPEC, AVAILABILITY_OPTIONAL_SPEC);
  const seen = new Set<string>();
  for (const row of rows) {
    if (!(AVAILABILITY_WINDOWS as readonly string[]).includes(row.window)) {
      throw badValue(
        file,
        row.line,
        'window',
        `expected one of ${AVAILABILITY_WINDOWS.join(', ')}, got ${JSON.stringify(row.window)}`,
      );
    }
    const key = `${row.quorum}/${row.window}`;
    if (seen.has(key)) throw badValue(file, row.line, 'window', `quorum ${row.quorum} has two ${row.window} rows`);
    seen.add(key);
    for (const column of [
      'attempted',
      'ok',
      'errors_quorum',
      'errors_http',
      'errors_timeout',
      'errors_connection',
    ] as const) {
      if (row[column] < 0) throw badValue(file, row.line, column, `${row[column]} is negative`);
    }
    if (row.ok > row.attempted)
      throw badValue(file, row.line, 'ok', `${row.ok} ok writes out of ${row.attempted} attempted`);
    if (row.availability === null) {
      if (row.attempted > 0)
        throw badValue(file, row.line, 'availability', `empty although ${row.attempted} writes were attempted`);
    } else {
      if (row.availability < 0 || row.availability > 1)
        throw badValue(file, row.line, 'availability', `${row.availability} is outside 0..1`);
      if (row.attempted > 0 && Math.abs(row.availability - row.ok / row.attempted) > 1e-4) {
        throw badValue(
          file,
          row.line,
          'availability',
          `${row.availability} is not ok/attempted = ${row.ok}/${row.attempted}`,
        );
      }
    }
    if (row.recovery_ms !== null && row.recovery_ms < 0)
      throw badValue(file, row.line, 'recovery_ms', `${row.recovery_ms} is negative`);
  }
  return rows as AvailabilityRow[];
}
