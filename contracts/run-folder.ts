/**
 * The run folder's CSV tables, each defined once: the harness writes with these columns in this order
 * (harness/csv.ts), the analysis reads and validates with the same kinds (analysis/read-run.ts), and
 * docs/run-folder.md is rendered from here (`npm run docs`; a test keeps it in step).
 */

/** Cell kinds: a trailing `?` allows an empty cell (read as null). */
export type ColumnKind = 'int' | 'int?' | 'num' | 'num?' | 'bool' | 'str';
export interface ColumnSpec {
  kind: ColumnKind;
  doc: string;
}
export interface TableSpec {
  file: string;
  doc: string;
  /** Required when reading. */
  columns: Readonly<Record<string, ColumnSpec>>;
  /** Written by this version; a reader accepts their absence (older runs) and reads null. */
  optional: Readonly<Record<string, ColumnSpec>>;
}

/** The kinds of a table's columns, e.g. { quorum: 'int', ... }. */
export type KindsOf<C extends Readonly<Record<string, ColumnSpec>>> = { -readonly [K in keyof C]: C[K]['kind'] };

export function kindsOf<C extends Readonly<Record<string, ColumnSpec>>>(columns: C): KindsOf<C> {
  return Object.fromEntries(Object.entries(columns).map(([name, spec]) => [name, spec.kind])) as KindsOf<C>;
}

export type ColumnOf<T extends TableSpec> = Extract<keyof T['columns'] | keyof T['optional'], string>;

const c = <K extends ColumnKind>(kind: K, doc: string): { kind: K; doc: string } => ({ kind, doc });
const QUORUM = c('int', 'W, the write quorum of this step');
const LAT_P50 = c('num?', 'p50 latency of the successful writes, µs (empty if none)');
const LAT_P99 = c('num?', 'p99 latency of the successful writes, µs (empty if none)');

export const SUMMARY_TABLE = {
  file: 'summary.csv',
  doc: 'One row per quorum step: load, errors, latency, staleness, convergence and delay fidelity.',
  columns: {
    quorum: QUORUM,
    clients: c('int', 'concurrent clients (worker-thread connections)'),
    load_model: c(
      'str',
      'closed (each client waits for its write) or open (paced at a rate, coordinated omission corrected)',
    ),
    target_writes_per_sec: c('num?', 'offered rate in open loop; empty for closed'),
    achieved_writes_per_sec: c('num', 'measured writes answered per second'),
    writes_ok: c('int', 'measured writes acknowledged (200)'),
    errors_quorum: c('int', '503 answers (quorum not reached)'),
    errors_http: c('int', 'other non-200 answers'),
    errors_timeout: c('int', 'writes with no answer within the request timeout'),
    errors_connection: c('int', 'writes whose connection failed'),
    latency_mean_us: c('num', 'mean client-side write latency, µs'),
    latency_p50_us: c('num', 'p50 client-side write latency, µs'),
    latency_p90_us: c('num', 'p90, µs'),
    latency_p99_us: c('num', 'p99, µs'),
    latency_p999_us: c('num', 'p99.9, µs'),
    latency_max_us: c('num', 'maximum, µs'),
    follower_reads: c('int', 'read-backs answered by followers'),
    stale_reads: c('int', 'of those, reads that returned an older version than the acknowledged write'),
    stale_fraction: c('num?', 'stale_reads / follower_reads'),
    read_delay_mean_us: c('num?', 'mean time from the write ack to the read-back reply, µs'),
    converged: c('bool', 'all followers equal the leader after the step (true|false)'),
    mismatched_keys: c('int', 'keys that still differ after the step'),
    delay_error_p50_us: c('num?', 'injected delay lateness (realised − target) p50, µs, from the leader'),
    delay_error_p99_us: c('num?', 'the same, p99'),
    realised_delay_mean_us: c('num?', 'mean realised injected delay, µs (target mean is (min+max)/2)'),
    min_delay_ms: c('num', 'MIN_DELAY in effect, ms'),
    max_delay_ms: c('num', 'MAX_DELAY in effect, ms'),
    duration_s: c('num', 'measured phase duration, s'),
  },
  optional: {
    lost_writes: c('int', 'acknowledged writes some node does not hold after healing and quiescence (must be 0)'),
    unknown_outcome_writes: c(
      'int',
      'writes that may or may not have been applied (503 after a version, timeouts, lost connections)',
    ),
    reads_unavailable: c(
      'int',
      'read-back reads (all replicas) unanswered within --read-timeout, or not sent because 64 reads to that node were in flight',
    ),
    readbacks_incomplete: c(
      'int',
      'read-backs left out of stale_counts.csv because a follower did not answer with a version',
    ),
    probes_unavailable: c('int', 'visibility probe reads unanswered within --read-timeout'),
    cap_waits: c('int', 'open-loop writes that waited because --max-in-flight writes were in flight (sent late)'),
    send_lag_p99_us: c('num?', 'open loop: p99 of actual − intended send time, µs (empty for closed)'),
    complete: c('bool', 'false when the step was cut short (Ctrl-C): not comparable with finished rows'),
    client_traces: c('int', 'traced writes the harness kept (--trace)'),
    latency_sd_us: c(
      'num',
      "standard deviation of the client-side write latency, µs (the mean's standard error is latency_sd_us / √writes_ok)",
    ),
  },
} as const satisfies TableSpec;

export const LATENCY_PERCENTILES_TABLE = {
  file: 'latency_percentiles.csv',
  doc: 'The latency distribution per quorum (the HDR spectrum; the full histogram is in latency_q<W>.hgrm).',
  columns: {
    quorum: QUORUM,
    percentile: c('num', '0..100, e.g. 50, 90, 99.9'),
    latency_us: c('num', 'latency at that percentile, µs'),
  },
  optional: {},
} as const satisfies TableSpec;

export const STALENESS_TABLE = {
  file: 'staleness.csv',
  doc: 'Read-backs per replica (read delay = from the client receiving the ack to receiving the read reply).',
  columns: {
    quorum: QUORUM,
    replica: c('str', 'leader or follower1..follower5'),
    reads: c('int', 'read-backs answered'),
    stale: c('int', 'of those, stale'),
    stale_fraction: c('num?', 'stale / reads'),
    read_delay_mean_us: c('num?', 'mean read delay, µs'),
    read_delay_p50_us: c('num?', 'p50 read delay, µs'),
    read_delay_p99_us: c('num?', 'p99 read delay, µs'),
  },
  optional: {
    unavailable: c('int', 'read-backs unanswered within --read-timeout (a third outcome beside fresh and stale)'),
    errors: c('int', 'read-backs answered with no version (http errors)'),
  },
} as const satisfies TableSpec;

export const STALE_COUNTS_TABLE = {
  file: 'stale_counts.csv',
  doc: 'For each read-back round, how many of the followers were stale (the joint distribution behind read quorums R).',
  columns: {
    quorum: QUORUM,
    stale_followers: c('int', '0..N'),
    writes: c('int', 'read-back rounds with that many stale followers'),
  },
  optional: {},
} as const satisfies TableSpec;

export const VISIBILITY_TABLE = {
  file: 'visibility.csv',
  doc: 'With --visibility: probes of all followers at fixed offsets after the ack (t-visibility).',
  columns: {
    quorum: QUORUM,
    offset_us: c('num', 'nominal probe offset after the ack, µs'),
    writes: c('int', 'writes probed at that offset'),
    fully_visible_fraction: c('num', 'share of those whose write every follower already served'),
  },
  optional: {
    realised_offset_mean_us: c('num?', 'mean measured ack → probe-send time at that offset, µs'),
  },
} as const satisfies TableSpec;

export const AVAILABILITY_TABLE = {
  file: 'availability.csv',
  doc: 'Measured writes per window: `all` always; `fault` (due while a follower was faulted) and `normal` with --fault.',
  columns: {
    quorum: QUORUM,
    window: c('str', 'all | fault | normal'),
    attempted: c('int', 'writes attempted in the window'),
    ok: c('int', 'of those, acknowledged'),
    errors_quorum: c('int', '503 answers'),
    errors_http: c('int', 'other non-200 answers'),
    errors_timeout: c('int', 'no answer in time'),
    errors_connection: c('int', 'connection failures'),
    availability: c('num?', 'ok / attempted (empty if none attempted)'),
    latency_p50_us: LAT_P50,
    latency_p99_us: LAT_P99,
    recovery_ms: c('num?', 'longest catch-up after a restart or resume in the step, ms (empty if none)'),
  },
  optional: {
    intended: c(
      'int',
      'writes the schedule intended in the window (due while a follower was faulted, for `fault`); closed loop: those sent',
    ),
    sent_on_time: c('int', 'of those, sent within 5 ms of their intended time'),
    ok_on_time: c('int', 'sent on time and acknowledged'),
    availability_of_intended: c(
      'num?',
      'ok_on_time / intended: a write sent late or never is not available (empty if none intended)',
    ),
    window_s: c('num', 'wall time the window lasted, s'),
    intended_per_sec: c('num?', 'intended / window_s'),
    achieved_per_sec: c('num?', 'ok / window_s'),
    reads_unavailable: c('int', "read-back reads of the window's writes unanswered within --read-timeout"),
    latency_mean_us: c('num?', "client-side mean latency of the window's successful writes, µs (empty if none)"),
    leader_latency_mean_us: c(
      'num?',
      "the leader's own mean write latency in the window, from its /stats at the window boundaries, µs (fault runs; empty otherwise)",
    ),
    leader_latency_p50_us: c(
      'num?',
      "the leader's own p50 write latency in the window: its /stats histograms at the window boundaries subtracted, µs (fault runs; empty otherwise)",
    ),
    leader_latency_p99_us: c('num?', "the leader's own p99 write latency in the window, as leader_latency_p50_us, µs"),
  },
} as const satisfies TableSpec;

export const RUN_TABLES = [
  SUMMARY_TABLE,
  LATENCY_PERCENTILES_TABLE,
  STALENESS_TABLE,
  STALE_COUNTS_TABLE,
  VISIBILITY_TABLE,
  AVAILABILITY_TABLE,
] as const satisfies readonly TableSpec[];

const US = (doc: string) => c('num?', `${doc}, µs on the host's monotonic clock (empty: not recorded)`);

export const TRACE_TABLE = {
  file: 'trace_q<W>.csv',
  doc:
    'With --trace > 0: the joined timelines of the traced writes (issue 9; shapes in contracts/trace.ts), one row per write × replica ' +
    '(leader, follower1..N). Write-level columns repeat on each row; per-follower columns are empty on the leader row. Written by the ' +
    'harness (harness/trace-collect.ts), read back by the analysis (analysis/trace-csv.ts).',
  columns: {
    quorum: QUORUM,
    key: c('str', 'the key written'),
    version: c('int', 'the version the leader assigned'),
    client: c('int?', 'logical client id (empty: no client record)'),
    replica: c('str', 'leader or follower1..followerN'),
    intended_us: US('open loop: the scheduled send time; closed loop: = client_sent_us'),
    client_sent_us: US('client sent the write'),
    leader_received_us: US('leader handler start'),
    version_us: US('version assigned and applied on the leader'),
    quorum_us: US('W-th ack processed on the leader'),
    response_us: US('leader wrote the response'),
    client_received_us: US('client received the response'),
    target_delay_us: c('num?', 'injected delay drawn for this follower, µs'),
    scheduled_us: US('delay scheduled'),
    fired_us: US('delay fired'),
    leg_sent_us: US('replication request left the leader'),
    follower_received_us: US('follower handler start (for a batch, its arrival)'),
    follower_applied_us: US('follower store updated (or found newer)'),
    follower_applied: c('str', 'true | false (the follower already held a newer version) | empty'),
    ack_us: US('ack processed on the leader'),
    leg_outcome: c('str', 'acked | failed | skipped | pending | empty'),
    boot_id: c('str', 'boot id of the follower process that recorded the apply'),
    visible_us: US('earliest time this replica held the version or a newer one (leader: version_us)'),
    read_sent_us: US('read-back to this replica sent'),
    read_served_us: US('read served by the replica (x-ql-served-us)'),
    read_received_us: US('read reply received'),
    read_version: c('int?', 'version the replica served'),
    read_outcome: c('str', 'fresh | stale | unavailable | error | empty (no read-back)'),
  },
  optional: {},
} as const satisfies TableSpec;

export const DECOMPOSITION_TABLE = {
  file: 'decomposition.csv',
  doc:
    'Written by the analysis from the traces (on one clock): the client latency of the traced writes split along the path of ' +
    'the ack that completed the quorum (docs/analysis.md, "Per-write timelines"). The component means add up to the `total` row.',
  columns: {
    quorum: QUORUM,
    component: c(
      'str',
      'client_send_lag, client_to_leader, leader_before_version, leader_before_delay, injected_delay, delay_lateness, leader_send, send_to_follower, follower_processing, ack_return, leader_quorum_wait, leader_response, leader_to_client, total',
    ),
    mean_us: c('num', 'mean over the decomposed writes, µs'),
    p50_us: c('num', 'p50, µs'),
    p99_us: c('num', 'p99, µs'),
    share: c('num', "mean_us / the total row's mean_us"),
    writes: c('int', 'writes decomposed (those with every event of the path)'),
  },
  optional: {},
} as const satisfies TableSpec;

export const TRACE_VISIBILITY_TABLE = {
  file: 'trace_visibility.csv',
  doc: 'Written by the analysis from the traces: the t-visibility curve of the trace-fed WARS Monte Carlo (analysis/trace-model.ts).',
  columns: {
    quorum: QUORUM,
    offset_us: c('num', 'time after the client received the ack, µs'),
    model_trace_fully_visible_fraction: c('num', 'predicted share of writes every follower has applied by then'),
  },
  optional: {},
} as const satisfies TableSpec;

export const LOAD_SWEEP_TABLE = {
  file: 'load_sweep.csv',
  doc:
    "With --rates: one row per offered rate × W, in the sweep folder (--out); each rate's full run folder is its `folder` " +
    '(harness/sweep.ts). Drawn as latency_vs_load.svg.',
  columns: {
    quorum: QUORUM,
    offered_share: c('num?', 'the share of the calibrated capacity asked for (empty: an absolute rate)'),
    offered_writes_per_sec: c('num', 'open-loop rate offered, writes/s'),
    achieved_writes_per_sec: c('num', 'writes answered per second'),
    latency_mean_us: c('num', 'mean write latency (intended send → ack), µs'),
    latency_p50_us: c('num', 'p50, µs'),
    latency_p99_us: c('num', 'p99, µs'),
    stale_fraction: c('num?', 'stale follower reads / follower reads'),
    folder: c('str', 'the run folder of that rate, relative to the sweep folder'),
  },
  optional: {},
} as const satisfies TableSpec;

/** Tables outside RUN_TABLES (their writers and readers are the trace modules and the load sweep). */
export const OBSERVED_READ_QUORUMS_TABLE = {
  file: 'observed_read_quorums.csv',
  doc:
    'With --read-quorum: reads that really asked R followers (chosen at random per read, right after the ack, beside the read-back) ' +
    'and kept the newest version; the analysis puts the observed stale fraction beside the inferred one in read_quorums.csv.',
  columns: {
    quorum: QUORUM,
    read_quorum: c('int', 'R, followers asked per read'),
    reads: c('int', 'R-reads in which all R followers answered'),
    stale: c('int', 'of those, the newest version among the R was older than the acknowledged write'),
    stale_fraction: c('num?', 'stale / reads (empty if none)'),
    unavailable: c('int', 'R-reads in which some follower gave no version within --read-timeout'),
  },
  optional: {},
} as const satisfies TableSpec;

export const TRACE_TABLES = [
  OBSERVED_READ_QUORUMS_TABLE,
  TRACE_TABLE,
  DECOMPOSITION_TABLE,
  TRACE_VISIBILITY_TABLE,
  LOAD_SWEEP_TABLE,
] as const satisfies readonly TableSpec[];

/** Header order: the required columns, then the optional ones. */
export function columnNames<T extends TableSpec>(table: T): readonly ColumnOf<T>[] {
  return [...Object.keys(table.columns), ...Object.keys(table.optional)] as ColumnOf<T>[];
}

/** docs/run-folder.md, rendered from the tables above. */
export function renderRunFolderDoc(tables: readonly TableSpec[] = [...RUN_TABLES, ...TRACE_TABLES]): string {
  const out = [
    '# Run folder: CSV tables',
    '',
    '<!-- generated from contracts/run-folder.ts by `npm run docs`; edit that file, not this one -->',
    'All CSVs: one header row, comma-separated, written with csv-stringify; µs values are numbers.',
    'Readers must ignore columns they do not know; `optional` columns may be absent in older runs.',
  ];
  for (const t of tables) {
    out.push('', `## ${t.file}`, '', t.doc, '', '| column | kind | meaning |', '|---|---|---|');
    for (const [name, spec] of Object.entries(t.columns)) out.push(`| ${name} | ${spec.kind} | ${spec.doc} |`);
    for (const [name, spec] of Object.entries(t.optional))
      out.push(`| ${name} | ${spec.kind}, optional | ${spec.doc} |`);
  }
  return `${out.join('\n')}\n`;
}
