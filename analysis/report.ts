/**
 * report.md and report.html from one document model: the run's configuration, the summary and
 * model tables, the plots and a short generated explanation of what the numbers say.
 */
import { headline, headlineLines } from './headline.ts';
import type { Comparison } from './compare.ts';
import type { AvailabilityRow, RunData } from './read-run.ts';
import type { RunMeta } from '../contracts/meta.ts';

export type Block =
  | { kind: 'heading'; level: 1 | 2 | 3; text: string }
  | { kind: 'paragraph'; text: string }
  | { kind: 'list'; items: string[] }
  | { kind: 'table'; header: string[]; rows: (string | number)[][] }
  | { kind: 'figure'; file: string; caption: string };

function fmt(x: number | null | undefined, digits = 0): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function pct(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(digits)}%`;
}

/** Least-squares slope of y on x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

function configBlocks(run: RunData): Block[] {
  const m = run.meta;
  const tool = (m.tool ?? {}) as { name?: string; version?: string; gitCommit?: string | null };
  const cpu = (m.cpu ?? {}) as { model?: string; count?: number };
  const platform = (m.platform ?? {}) as { os?: string; release?: string; arch?: string };
  const options = (m.options ?? {}) as Record<string, unknown>;
  const first = run.summary[0]!;
  const items = [
    `Tool: ${tool.name ?? '?'} ${tool.version ?? ''}${tool.gitCommit ? ` (commit ${String(tool.gitCommit).slice(0, 12)})` : ''}`,
    `Run: ${String(m.startedAt ?? '?')} → ${String(m.endedAt ?? '?')}; seed ${String(m.seed ?? '?')}`,
    `Machine: ${cpu.model ?? '?'} × ${cpu.count ?? '?'} cores; ${platform.os ?? '?'} ${platform.release ?? ''} ${platform.arch ?? ''}; Node ${String(m.node ?? '?')}`,
    `Cluster: 1 leader + ${run.followers} followers; injected replication delay Uniform[${first.min_delay_ms}, ${first.max_delay_ms}] ms per follower`,
    `Load: ${first.clients} clients, ${first.load_model} loop${first.target_writes_per_sec !== null ? ` at ${first.target_writes_per_sec} writes/s` : ''}`,
  ];
  if (typeof m.synthetic === 'string') items.push(`Note: ${m.synthetic}`);
  const optionText = Object.entries(options)
    .filter(([, v]) => v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
  if (optionText) items.push(`Options: ${optionText}`);
  return [
    { kind: 'heading', level: 2, text: 'Configuration' },
    { kind: 'list', items },
  ];
}

function summaryTable(run: RunData): Block {
  return {
    kind: 'table',
    header: [
      'W',
      'writes ok',
      'errors',
      'writes/s',
      'mean µs',
      'p50 µs',
      'p99 µs',
      'p99.9 µs',
      'max µs',
      'stale follower reads',
      'unavailable reads',
      'read delay µs',
      'converged',
    ],
    rows: [...run.summary]
      .sort((a, b) => a.quorum - b.quorum)
      .map((r) => [
        // A step cut short (Ctrl-C) is not comparable with the others.
        r.complete === false ? `${r.quorum} (interrupted)` : r.quorum,
        fmt(r.writes_ok),
        fmt(r.errors_quorum + r.errors_http + r.errors_timeout + r.errors_connection),
        fmt(r.achieved_writes_per_sec),
        fmt(r.latency_mean_us),
        fmt(r.latency_p50_us),
        fmt(r.latency_p99_us),
        fmt(r.latency_p999_us),
        fmt(r.latency_max_us),
        r.follower_reads > 0 ? `${pct(r.stale_reads / r.follower_reads)} of ${fmt(r.follower_reads)}` : '–',
        // Read-backs no replica answered within --read-timeout: a third outcome, neither fresh nor stale.
        fmt(r.reads_unavailable),
        fmt(r.read_delay_mean_us),
        r.converged ? 'yes' : `NO (${r.mismatched_keys} keys)`,
      ]),
  };
}

function modelTable(cmp: Comparison): Block {
  const hasBaseline = cmp.rows.some((r) => r.baseline_overhead_mean_us !== null);
  const header = ['W', 'model mean µs', 'model (realised) mean µs', 'measured mean µs', 'measured − model µs'];
  if (hasBaseline) header.push('measured − baseline µs');
  header.push(
    'model p99 µs',
    'measured p99 µs',
    'read gap g µs',
    'model stale',
    'model (realised) stale',
    'measured stale',
  );
  return {
    kind: 'table',
    header,
    rows: cmp.rows.map((r) => {
      const row: (string | number)[] = [
        r.quorum,
        fmt(r.model_latency_mean_us),
        fmt(r.model_realised_latency_mean_us),
        fmt(r.measured_latency_mean_us),
        fmt(r.measured_minus_model_mean_us),
      ];
      if (hasBaseline) row.push(fmt(r.measured_minus_baseline_mean_us));
      row.push(
        fmt(r.model_latency_p99_us),
        fmt(r.measured_latency_p99_us),
        fmt(r.read_gap_us),
        pct(r.model_stale_fraction),
        pct(r.model_realised_stale_fraction),
        pct(r.measured_stale_fraction),
      );
      return row;
    }),
  };
}

function readQuorumTable(cmp: Comparison): Block {
  const rs = [...new Set(cmp.readQuorums.map((r) => r.read_quorum))].sort((a, b) => a - b);
  return {
    kind: 'table',
    header: ['W', ...rs.map((r) => `R = ${r} measured / model`)],
    rows: cmp.rows.map((row) => [
      row.quorum,
      ...rs.map((r) => {
        const q = cmp.readQuorums.find((x) => x.quorum === row.quorum && x.read_quorum === r)!;
        return q.strict_quorum
          ? `${pct(q.measured_stale_probability, 2)} (W+R>N)`
          : `${pct(q.measured_stale_probability, 2)} / ${pct(q.model_stale_probability, 2)}`;
      }),
    ]),
  };
}

/** Thresholds of the availability shape: a W is available at ≥ 90 % ok during faults, failed at ≤ 10 %. */
const AVAILABLE = 0.9;
const FAILED = 0.1;

function faultRows(rows: readonly AvailabilityRow[] | null): AvailabilityRow[] {
  return (rows ?? []).filter((r) => r.window === 'fault').sort((a, b) => a.quorum - b.quorum);
}

/**
 * One generated sentence on the shape of availability vs W during faults: W ≤ live followers stays
 * available, W > live followers fails with 503. Exported for tests.
 */
export function availabilityShape(rows: readonly AvailabilityRow[], followers: number): string {
  const fault = faultRows(rows).filter((r) => r.availability !== null);
  if (fault.length === 0)
    return 'No write was sent while a follower was faulted, so availability under the fault could not be measured.';
  const list = (rs: AvailabilityRow[]): string => rs.map((r) => `W = ${r.quorum}: ${pct(r.availability)}`).join(', ');
  const up = fault.filter((r) => r.availability! >= AVAILABLE);
  const down = fault.filter((r) => r.availability! <= FAILED);
  const k = up.length > 0 ? up[up.length - 1]!.quorum : fault[0]!.quorum - 1;
  const step = fault.every((r) => (r.quorum <= k ? r.availability! >= AVAILABLE : r.availability! <= FAILED));
  const rule =
    'a write needs W acks and only live followers can give them, so W ≤ live followers stays available while W > live followers fails with 503 (quorum_not_reached: at once with reason insufficient_followers once the leader counts the follower down, after QUORUM_TIMEOUT before it notices)';
  if (step && down.length === 0) {
    return `During the faults every W measured stayed available (${list(fault)}): at least ${k} of ${followers} followers stayed live throughout, and ${rule}; here the fault cost latency, not availability.`;
  }
  if (step && up.length === 0) {
    return `During the faults no W measured stayed available (${list(fault)}): fewer than ${fault[0]!.quorum} of ${followers} followers were live, and ${rule}.`;
  }
  if (step) {
    return `Availability falls as a step between W = ${k} and W = ${k + 1}: with ${k} of ${followers} followers live during the fault, W ≤ ${k} stayed available (${list(up)}) and W ≥ ${k + 1} failed (${list(down)}), because ${rule}.`;
  }
  return `Availability during faults does not fall as a clean step with W (${list(fault)}); the expected shape is that ${rule}. Partial availability usually means the fault window mixed times with different numbers of live followers (a pause or kill the leader had not yet noticed, a restart catching up) or that the window held only a few writes.`;
}

function availabilityBlocks(run: RunData): Block[] {
  const fault = faultRows(run.availability);
  if (fault.length === 0) return [];
  const normal = new Map((run.availability ?? []).filter((r) => r.window === 'normal').map((r) => [r.quorum, r]));
  return [
    { kind: 'heading', level: 2, text: 'Availability under faults (availability.csv)' },
    { kind: 'paragraph', text: availabilityShape(fault, run.followers) },
    {
      kind: 'figure',
      file: 'availability_vs_quorum.svg',
      caption: 'Write availability vs write quorum under the fault',
    },
    {
      kind: 'table',
      header: [
        'W',
        'intended during faults',
        'attempted',
        'ok',
        'availability during faults',
        'of intended (on time and ok)',
        'availability outside faults',
        'failed: quorum / http / timeout / connection',
        'p50 µs: client / leader',
        'p99 µs: client / leader',
        'reads unavailable',
        'recovery ms',
      ],
      rows: fault.map((r) => [
        r.quorum,
        fmt(r.intended),
        fmt(r.attempted),
        fmt(r.ok),
        pct(r.availability),
        pct(r.availability_of_intended),
        pct(normal.get(r.quorum)?.availability),
        `${fmt(r.errors_quorum)} / ${fmt(r.errors_http)} / ${fmt(r.errors_timeout)} / ${fmt(r.errors_connection)}`,
        `${fmt(r.latency_p50_us)} / ${fmt(r.leader_latency_p50_us ?? null)}`,
        `${fmt(r.latency_p99_us)} / ${fmt(r.leader_latency_p99_us ?? null)}`,
        fmt(r.reads_unavailable),
        fmt(r.recovery_ms),
      ]),
    },
    {
      kind: 'paragraph',
      text: "Fault window = writes due while at least one follower was killed, paused, partitioned or catching up; \"of intended\" counts a write sent more than 5 ms late (or never) as unavailable; the leader's figures come from its own /stats (its latency histogram at the window's boundaries, subtracted), so a gap to the client's is harness or network time; reads unavailable = read-backs no replica answered within --read-timeout (a third outcome beside fresh and stale); recovery = the longest catch-up after a restart, resume or reconnection in that quorum's step (until the leader counted the follower up again).",
    },
  ];
}

/**
 * The priority the launcher applied to the leader ('realtime' | 'normal'), per W where meta.json
 * records it; null when it does not. The harness writes `cluster.perQuorum[W].appliedLeaderPriority`
 * (the requested `leaderPriority` may be 'auto', which says nothing about what was applied); a
 * `leaderPriority` of 'realtime' | 'normal' at the top level, in `cluster` or per W is also accepted.
 */
export function leaderPriorityOf(meta: Partial<RunMeta>): string | null {
  const obj = (x: unknown): Record<string, unknown> | null =>
    typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : null;
  const known = (x: unknown): string | null => (x === 'realtime' || x === 'normal' ? x : null);
  const of = (o: Record<string, unknown> | null): string | null =>
    known(o?.appliedLeaderPriority) ?? known(o?.leaderPriority);
  const perW = new Map<string, string>();
  for (const source of [obj(obj(meta.cluster)?.perQuorum), obj(meta.quorums)]) {
    for (const [w, v] of Object.entries(source ?? {})) {
      const p = of(obj(v)) ?? of(obj(obj(v)?.cluster));
      if (p && !perW.has(w)) perW.set(w, p);
    }
  }
  const values = [...new Set(perW.values())];
  if (values.length === 0) return of(meta as Record<string, unknown>) ?? of(obj(meta.cluster));
  if (values.length === 1) return values[0]!;
  return values
    .map(
      (p) =>
        `${p} for W = ${[...perW]
          .filter(([, v]) => v === p)
          .map(([w]) => w)
          .join(', ')}`,
    )
    .join('; ');
}

function range(xs: readonly number[], unit: string): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? `${fmt(lo)} ${unit}` : `${fmt(lo)}–${fmt(hi)} ${unit}`;
}

/** Lost and unknown-outcome writes across W. */
function writeOutcomeItems(summary: RunData['summary']): string[] {
  const items: string[] = [];
  const lostKnown = summary.filter((r) => r.lost_writes !== null);
  const lost = lostKnown.filter((r) => r.lost_writes! > 0);
  items.push(
    lostKnown.length === 0
      ? 'Lost writes: not recorded (summary.csv predates the lost-writes check).'
      : lost.length === 0
        ? `Lost writes: 0 at every W checked (every acknowledged write was on every node after healing, as it must be).`
        : `WARNING: lost writes: ${lost.map((r) => `${fmt(r.lost_writes)} at W = ${r.quorum}`).join(', ')}: acknowledged writes missing from a node after healing and quiescence; this must be 0.`,
  );
  const unknown = summary.filter((r) => r.unknown_outcome_writes !== null);
  if (unknown.length > 0) {
    const total = unknown.reduce((s, r) => s + r.unknown_outcome_writes!, 0);
    const some = unknown.filter((r) => r.unknown_outcome_writes! > 0);
    items.push(
      `Unknown-outcome writes: ${fmt(total)}${some.length > 0 ? ` (${some.map((r) => `W = ${r.quorum}: ${fmt(r.unknown_outcome_writes)}`).join(', ')})` : ''}: 503s after a version was assigned, timeouts and lost connections, which may or may not have been applied (not counted as lost).`,
    );
  } else {
    items.push('Unknown-outcome writes: not recorded.');
  }
  return items;
}

/** The one-client note and the CAUTION when queueing dominates the latency. */
function queueingNotes(
  cmp: Comparison,
  first: RunData['summary'][number],
  open: boolean,
  coreText: string,
): { notes: string[]; caution: string | null } {
  // One closed-loop client has no other write to queue behind: its extra latency is fixed per-write
  // overhead (HTTP, JSON, timers), not saturation, so the queueing caution would mislead there.
  const singleClosedClient = !open && first.clients === 1;
  const queued = singleClosedClient
    ? []
    : cmp.rows.filter((r) => r.measured_minus_model_mean_us > 2 * r.model_latency_mean_us);
  let caution: string | null = null;
  const items: string[] = [];
  if (singleClosedClient && cmp.rows.length > 0) {
    const extras = cmp.rows.map((r) => r.measured_minus_model_mean_us);
    items.push(
      `One closed-loop client: no write queues behind another, so the ${fmt(Math.min(...extras))}–${fmt(Math.max(...extras))} µs by which the measured mean exceeds the model is per-write overhead (HTTP round trips, JSON, timer lateness), roughly constant across W.`,
    );
  }
  if (queued.length > 0) {
    const worst = queued.reduce((a, b) =>
      b.measured_minus_model_mean_us / b.model_latency_mean_us >
      a.measured_minus_model_mean_us / a.model_latency_mean_us
        ? b
        : a,
    );
    caution =
      `CAUTION: the latency is dominated by queueing, not by the quorum: at ${queued.map((r) => `W = ${r.quorum}`).join(', ')} the measured mean exceeds the model's injected delay by more than twice the model mean ` +
      `(worst W = ${worst.quorum}: ${fmt(worst.measured_latency_mean_us)} µs measured, ${fmt(worst.model_latency_mean_us)} µs model, ${fmt(worst.measured_minus_model_mean_us)} µs extra). ` +
      (open
        ? `The offered rate of ${fmt(first.target_writes_per_sec)} writes/s saturated the ${coreText} cores, so writes mostly waited in queues behind one another. `
        : `The ${first.clients} closed-loop clients saturated the ${coreText} cores, so each write mostly waited in queues behind the others. `) +
      'Run with `--clients 1` (or a lower `--rate`) to measure the quorum cost itself, as the model-fit benchmark (bench/model-fit.ts) does.';
  }
  return { notes: items, caution };
}

function fidelityTable(summary: RunData['summary'], cmp: Comparison): Block {
  const model = new Map(cmp.rows.map((r) => [r.quorum, r]));
  return {
    kind: 'table',
    header: [
      'W',
      'delay error p50 µs',
      'delay error p99 µs',
      'realised mean delay µs',
      'target mean µs',
      'measured mean latency µs',
      'model mean µs',
      'measured − model µs',
      'lost writes',
      'unknown outcome',
    ],
    rows: summary.map((r) => {
      const m = model.get(r.quorum);
      return [
        r.quorum,
        fmt(r.delay_error_p50_us),
        fmt(r.delay_error_p99_us),
        fmt(r.realised_delay_mean_us),
        fmt(((r.min_delay_ms + r.max_delay_ms) / 2) * 1000),
        fmt(r.latency_mean_us),
        fmt(m?.model_latency_mean_us),
        fmt(m?.measured_minus_model_mean_us),
        r.lost_writes === null ? '–' : fmt(r.lost_writes),
        r.unknown_outcome_writes === null ? '–' : fmt(r.unknown_outcome_writes),
      ];
    }),
  };
}

/**
 * How the run was produced and how faithful it was: load and cores, leader priority, timer
 * lateness, realised vs target mean delay, lost and unknown-outcome writes, and a CAUTION when
 * queueing dominates the latency. Exported for tests.
 */
export function fidelity(run: RunData, cmp: Comparison): { items: string[]; caution: string | null; table: Block } {
  const summary = [...run.summary].sort((a, b) => a.quorum - b.quorum);
  const first = summary[0]!;
  const cores = (run.meta.cpu as { count?: unknown } | undefined)?.count;
  const coreText = typeof cores === 'number' ? `${cores}` : 'the';
  const items: string[] = [];
  const open = first.load_model === 'open';
  items.push(
    open
      ? `Load: open loop at ${fmt(first.target_writes_per_sec)} writes/s with up to ${first.clients} clients on ${coreText} cores, shared with the leader and ${run.followers} followers.`
      : `Load: ${first.clients} closed-loop clients (each sends its next write as soon as the previous one is answered) on ${coreText} cores, shared with the leader and ${run.followers} followers.`,
  );
  const priority = leaderPriorityOf(run.meta);
  items.push(
    priority === null
      ? 'Leader priority: unknown (meta.json does not record the priority the launcher applied; realtime = SCHED_FIFO, whose timers fire on time on busy cores).'
      : `Leader priority: ${priority}${priority === 'realtime' ? " (SCHED_FIFO: the leader's delay timers fire on time even when the clients keep the cores busy)" : priority === 'normal' ? ' (the leader competes with the clients for the cores; its delay timers can fire late)' : ''}.`,
  );
  const p50 = summary.map((r) => r.delay_error_p50_us).filter((x): x is number => x !== null);
  const p99 = summary.map((r) => r.delay_error_p99_us).filter((x): x is number => x !== null);
  items.push(
    p50.length > 0 && p99.length > 0
      ? `Realised delay error (timer lateness, realised − target): p50 ${range(p50, 'µs')}, p99 ${range(p99, 'µs')} across W.`
      : 'Realised delay error: not recorded (the leader reported no delay statistics).',
  );
  const targetMeanUs = ((first.min_delay_ms + first.max_delay_ms) / 2) * 1000;
  const realised = summary.map((r) => r.realised_delay_mean_us).filter((x): x is number => x !== null);
  if (realised.length > 0) {
    const mean = realised.reduce((s, x) => s + x, 0) / realised.length;
    const diff = mean - targetMeanUs;
    items.push(
      `Realised mean delay ${fmt(mean)} µs (${range(realised, 'µs')} across W) vs the target mean (a + b)/2 = ${fmt(targetMeanUs)} µs: ${diff >= 0 ? '+' : '−'}${fmt(Math.abs(diff))} µs${targetMeanUs > 0 ? ` (${diff >= 0 ? '+' : '−'}${fmt((Math.abs(diff) / targetMeanUs) * 100, 1)}%)` : ''}.`,
    );
  } else {
    items.push(`Realised mean delay: not recorded (target mean (a + b)/2 = ${fmt(targetMeanUs)} µs).`);
  }
  items.push(...writeOutcomeItems(summary));

  const { notes, caution } = queueingNotes(cmp, first, open, coreText);
  items.push(...notes);

  const table = fidelityTable(summary, cmp);
  return { items, caution, table };
}

function fidelityBlocks(run: RunData, cmp: Comparison): Block[] {
  const f = fidelity(run, cmp);
  const blocks: Block[] = [
    { kind: 'heading', level: 2, text: 'How the run was produced (fidelity)' },
    { kind: 'list', items: f.items },
  ];
  if (f.caution) blocks.push({ kind: 'paragraph', text: f.caution });
  blocks.push(f.table);
  return blocks;
}

/** The generated explanation, in the seed's terms. Exported for tests. */
export function explain(run: RunData, cmp: Comparison): string[] {
  if (cmp.rows.length === 0) return ['No quorum of this run could be compared with the model.'];
  return [
    ...explainLatency(cmp),
    explainDistance(cmp),
    ...explainStaleness(cmp),
    ...explainReadQuorums(cmp),
    explainConvergence(run, cmp.followers),
  ];
}

/** The uniform model's step per extra ack, (b − a)/(N + 1), and the delay range width b − a, in µs. */
function delayGeometry(cmp: Comparison): { widthUs: number; stepUs: number } {
  const first = cmp.rows[0]!;
  const widthUs = (first.max_delay_ms - first.min_delay_ms) * 1000;
  return { widthUs, stepUs: widthUs / (cmp.followers + 1) };
}

function explainLatency(cmp: Comparison): string[] {
  const rows = cmp.rows;
  const n = cmp.followers;
  const out: string[] = [];
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  const { stepUs } = delayGeometry(cmp);
  if (rows.length >= 2) {
    const measuredSlope = slope(
      rows.map((r) => r.quorum),
      rows.map((r) => r.measured_latency_mean_us),
    );
    out.push(
      `Why latency grows with W: the leader answers after the W-th fastest of ${n} independent random delays, so every extra ack it waits for is a later order statistic. ` +
        `For delays Uniform[a, b] the model gives E[d(W)] = a + (b − a)·W/(N + 1), i.e. +${fmt(stepUs)} µs per extra ack here. ` +
        `Measured mean latency went from ${fmt(first.measured_latency_mean_us)} µs at W = ${first.quorum} to ${fmt(last.measured_latency_mean_us)} µs at W = ${last.quorum}: ` +
        `${fmt(measuredSlope)} µs per extra ack (least squares), ${fmt((measuredSlope / stepUs) * 100)}% of the model's slope.`,
    );
    const ratio = measuredSlope / stepUs;
    if (!(ratio >= 0.5 && ratio <= 2)) {
      const worstP99 = Math.max(...rows.map((r) => r.measured_latency_p99_us));
      out.push(
        `CAUTION: the measured trend does not follow the model here, so this run's latency is dominated by something other than the injected delays ` +
          `(p99 up to ${fmt(worstP99)} µs against an injected maximum of ${fmt(first.max_delay_ms * 1000)} µs): typically CPU contention on a busy machine (other processes, too many clients for the cores) delaying timers and request handling. ` +
          `Compare the realised-delay model and the delay error in summary.csv, and repeat on an idle machine or with more writes before drawing conclusions about W.`,
      );
    }
  } else {
    out.push(
      `Only W = ${first.quorum} was measured: mean latency ${fmt(first.measured_latency_mean_us)} µs against the model's ${fmt(first.model_latency_mean_us)} µs of injected delay.`,
    );
  }

  return out;
}

function explainDistance(cmp: Comparison): string {
  const rows = cmp.rows;
  const offsets = rows.map((r) => r.measured_minus_model_mean_us);
  const meanOffset = offsets.reduce((s, x) => s + x, 0) / offsets.length;
  let distance =
    `How far the measurement sits from the model: measured mean latency is ${fmt(meanOffset)} µs above the model's injected delay on average ` +
    `(${fmt(Math.min(...offsets))}..${fmt(Math.max(...offsets))} µs across W). The model counts only the injected delay; the rest is the HTTP round trips client → leader → followers and back, JSON handling and timer lateness.`;
  const realised = rows.filter((r) => r.model_realised_latency_mean_us !== null);
  if (realised.length > 0) {
    const lateness =
      realised.reduce((s, r) => s + (r.model_realised_latency_mean_us! - r.model_latency_mean_us), 0) / realised.length;
    distance += ` Feeding the model the delays the leader actually realised (recorded per replication request) moves it up by ${fmt(lateness)} µs on average (timer lateness), leaving about ${fmt(meanOffset - lateness)} µs of network and processing per write.`;
  }
  const withBase = rows.filter((r) => r.measured_minus_baseline_mean_us !== null);
  if (withBase.length > 0) {
    const resid =
      withBase.reduce((s, r) => s + (r.measured_minus_baseline_mean_us! - r.model_latency_mean_us), 0) /
      withBase.length;
    distance += ` After subtracting the zero-delay baseline run's latency, measured − model is ${fmt(resid)} µs on average.`;
  }
  return distance;
}

function explainStaleness(cmp: Comparison): string[] {
  const rows = cmp.rows;
  const n = cmp.followers;
  const out: string[] = [];
  const { widthUs } = delayGeometry(cmp);
  const staleRows = rows.filter((r) => r.measured_stale_fraction !== null && r.model_stale_fraction !== null);
  if (staleRows.length > 0) {
    const weak = staleRows.filter((r) => r.quorum < n);
    const gap = staleRows.reduce((s, r) => s + r.read_gap_us!, 0) / staleRows.length;
    if (weak.length > 0) {
      out.push(
        `Why replicas are stale right after an ack for W < ${n}: the leader acknowledges as soon as W followers applied the write; the other N − W are still waiting for their delay, so at the instant of the ack (N − W)/N of the followers are stale. ` +
          `The reads reached the followers about g ≈ ${fmt(gap)} µs after the ack, by which time some of them had caught up; the model, P(d_j > d(W) + g), predicts ` +
          weak.map((r) => `${pct(r.model_stale_fraction)} at W = ${r.quorum}`).join(', ') +
          `; measured ` +
          weak.map((r) => `${pct(r.measured_stale_fraction)}`).join(', ') +
          '.' +
          (weak.some((r) => r.model_realised_stale_fraction !== null)
            ? ` With the delays the leader actually realised (their tail reaches past b when timers fire late) the model predicts ${weak.map((r) => pct(r.model_realised_stale_fraction)).join(', ')}.`
            : '') +
          (gap >= widthUs
            ? ` Since g ≥ b − a = ${fmt(widthUs)} µs, the uniform model says every follower has caught up by the time the read arrives; stale reads measured here come from delays beyond the nominal range (late timers, queueing).`
            : ''),
      );
      const diffs = staleRows.map((r) => r.measured_stale_fraction! - r.model_stale_fraction!);
      const rmse = Math.sqrt(diffs.reduce((s, d) => s + d * d, 0) / diffs.length);
      out.push(
        `Stale fraction, measured vs model: RMSE ${(rmse * 100).toFixed(1)} percentage points, largest difference ${(Math.max(...diffs.map(Math.abs)) * 100).toFixed(1)} points. ` +
          `g is the measured mean read delay (ack received → read reply), an approximation of the time from the W-th apply to the read reaching a follower (it adds the reply leg and misses the ack's return leg).`,
      );
    }
    const full = staleRows.find((r) => r.quorum === n);
    if (full) {
      out.push(
        full.measured_stale_fraction === 0
          ? `At W = ${n} no follower read was stale, as it must be: every follower applied the write before the ack.`
          : `WARNING: at W = ${n} ${pct(full.measured_stale_fraction, 3)} of follower reads were stale. With every follower acknowledging before the client's ack this should be impossible; suspect the nodes or the read-back.`,
      );
    }
  } else {
    out.push('No follower read-backs were recorded (readback 0?), so staleness could not be compared with the model.');
  }

  return out;
}

function explainReadQuorums(cmp: Comparison): string[] {
  const out: string[] = [];
  const strictBad = cmp.readQuorums.filter((r) => r.strict_quorum && (r.measured_stale_probability ?? 0) > 0);
  if (cmp.readQuorums.some((r) => r.measured_stale_probability !== null)) {
    out.push(
      strictBad.length === 0
        ? `Read quorums: reading R followers and keeping the newest version is never stale when W + R > N (measured: 0 in every such case); below that, the stale probability falls quickly with R (table below).`
        : `WARNING: reads with W + R > N were stale (${strictBad.map((r) => `W = ${r.quorum}, R = ${r.read_quorum}: ${pct(r.measured_stale_probability, 3)}`).join('; ')}); a strict quorum must never be.`,
    );
  }

  return out;
}

function explainConvergence(run: RunData, n: number): string {
  const bad = run.summary.filter((r) => !r.converged || r.mismatched_keys > 0);
  return bad.length === 0
    ? `Did the replicas converge? Yes: after every quorum's load, all ${n} followers matched the leader on every key (mismatched keys: 0).`
    : `Did the replicas converge? NO for ${bad.map((r) => `W = ${r.quorum} (${r.mismatched_keys} mismatched keys)`).join(', ')}: followers still differed from the leader after the run.`;
}

export function reportBlocks(run: RunData, cmp: Comparison, plots: { file: string; title: string }[]): Block[] {
  const blocks: Block[] = [
    {
      kind: 'heading',
      level: 1,
      text: `quorum-lab run report: ${run.dir.split('/').filter(Boolean).pop() ?? run.dir}`,
    },
  ];
  // The answer to the user's question comes first (analysis/headline.ts).
  for (const text of headlineLines(headline(cmp))) blocks.push({ kind: 'paragraph', text });
  blocks.push(...configBlocks(run));
  blocks.push(...fidelityBlocks(run, cmp));
  blocks.push({ kind: 'heading', level: 2, text: 'What the numbers say' });
  for (const text of explain(run, cmp)) blocks.push({ kind: 'paragraph', text });
  blocks.push({ kind: 'heading', level: 2, text: 'Plots' });
  const availability = availabilityBlocks(run);
  for (const p of plots) {
    if (availability.length > 0 && p.file === 'availability_vs_quorum.svg') continue; // shown in its own section
    blocks.push({ kind: 'figure', file: p.file, caption: p.title });
  }
  blocks.push(...availability);
  blocks.push({ kind: 'heading', level: 2, text: 'Summary (summary.csv)' });
  blocks.push(summaryTable(run));
  blocks.push({ kind: 'heading', level: 2, text: 'Measured vs model (model.csv)' });
  blocks.push({
    kind: 'paragraph',
    text: 'Model: N followers, injected delays i.i.d. Uniform[a, b]; the write waits for d(W), the W-th smallest; a follower is stale for a read reaching it g after the W-th apply iff its delay exceeds d(W) + g. "Model (realised)" resamples the delays the leader actually realised.',
  });
  blocks.push(modelTable(cmp));
  blocks.push({ kind: 'heading', level: 2, text: 'Read quorums (read_quorums.csv)' });
  blocks.push({
    kind: 'paragraph',
    text: 'Probability that all R randomly chosen followers are stale, P_R = Σ_k P(k)·C(k, R)/C(N, R), from the measured distribution of stale followers per read-back (stale_counts.csv) and from the model.',
  });
  blocks.push(readQuorumTable(cmp));
  return blocks;
}

export function renderMarkdown(blocks: readonly Block[]): string {
  const cell = (x: string | number): string => String(x).replace(/\|/g, '\\|');
  const parts = blocks.map((b) => {
    switch (b.kind) {
      case 'heading':
        return `${'#'.repeat(b.level)} ${b.text}`;
      case 'paragraph':
        return b.text;
      case 'list':
        return b.items.map((i) => `- ${i}`).join('\n');
      case 'table':
        return [
          `| ${b.header.map(cell).join(' | ')} |`,
          `|${b.header.map(() => '---').join('|')}|`,
          ...b.rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
        ].join('\n');
      case 'figure':
        return `![${b.caption}](${b.file})`;
    }
  });
  return `${parts.join('\n\n')}\n`;
}

function escapeHtml(s: string | number): string {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** HTML with the SVGs inlined, so the file stands alone. `svgs` maps figure file → SVG text. */
export function renderHtml(blocks: readonly Block[], svgs: ReadonlyMap<string, string>): string {
  const title =
    blocks.find((b) => b.kind === 'heading')?.kind === 'heading'
      ? (blocks[0] as { text: string }).text
      : 'quorum-lab report';
  const body = blocks.map((b) => {
    switch (b.kind) {
      case 'heading':
        return `<h${b.level}>${escapeHtml(b.text)}</h${b.level}>`;
      case 'paragraph':
        return `<p>${escapeHtml(b.text)}</p>`;
      case 'list':
        return `<ul>${b.items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>`;
      case 'table':
        return `<table><thead><tr>${b.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${b.rows
          .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
          .join('')}</tbody></table>`;
      case 'figure': {
        const svg = svgs.get(b.file);
        return `<figure>${svg ?? `<img src="${escapeHtml(b.file)}" alt="${escapeHtml(b.caption)}">`}<figcaption>${escapeHtml(b.caption)} (${escapeHtml(b.file)})</figcaption></figure>`;
      }
    }
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
figure { margin: 1.5em 0; }
figcaption { color: #666; font-size: 0.9em; }
</style></head>
<body>
${body.join('\n')}
</body></html>
`;
}
