/**
 * report.md and report.html from one document model: the run's configuration, the summary and
 * model tables, the plots and a short generated explanation of what the numbers say.
 */
import type { Comparison, ModelRow } from './compare.ts';
import type { RunData } from './read-run.ts';

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
  return [{ kind: 'heading', level: 2, text: 'Configuration' }, { kind: 'list', items }];
}

function summaryTable(run: RunData): Block {
  return {
    kind: 'table',
    header: ['W', 'writes ok', 'errors', 'writes/s', 'mean µs', 'p50 µs', 'p99 µs', 'p99.9 µs', 'max µs', 'stale follower reads', 'read delay µs', 'converged'],
    rows: [...run.summary]
      .sort((a, b) => a.quorum - b.quorum)
      .map((r) => [
        r.quorum,
        fmt(r.writes_ok),
        fmt(r.errors_quorum + r.errors_http + r.errors_timeout + r.errors_connection),
        fmt(r.achieved_writes_per_sec),
        fmt(r.latency_mean_us),
        fmt(r.latency_p50_us),
        fmt(r.latency_p99_us),
        fmt(r.latency_p999_us),
        fmt(r.latency_max_us),
        r.follower_reads > 0 ? `${pct(r.stale_reads / r.follower_reads)} of ${fmt(r.follower_reads)}` : '–',
        fmt(r.read_delay_mean_us),
        r.converged ? 'yes' : `NO (${r.mismatched_keys} keys)`,
      ]),
  };
}

function modelTable(cmp: Comparison): Block {
  const hasBaseline = cmp.rows.some((r) => r.baseline_overhead_mean_us !== null);
  const header = ['W', 'model mean µs', 'model (realised) mean µs', 'measured mean µs', 'measured − model µs'];
  if (hasBaseline) header.push('measured − baseline µs');
  header.push('model p99 µs', 'measured p99 µs', 'read gap g µs', 'model stale', 'model (realised) stale', 'measured stale');
  return {
    kind: 'table',
    header,
    rows: cmp.rows.map((r) => {
      const row: (string | number)[] = [r.quorum, fmt(r.model_latency_mean_us), fmt(r.model_realised_latency_mean_us), fmt(r.measured_latency_mean_us), fmt(r.measured_minus_model_mean_us)];
      if (hasBaseline) row.push(fmt(r.measured_minus_baseline_mean_us));
      row.push(fmt(r.model_latency_p99_us), fmt(r.measured_latency_p99_us), fmt(r.read_gap_us), pct(r.model_stale_fraction), pct(r.model_realised_stale_fraction), pct(r.measured_stale_fraction));
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
        return q.strict_quorum ? `${pct(q.measured_stale_probability, 2)} (W+R>N)` : `${pct(q.measured_stale_probability, 2)} / ${pct(q.model_stale_probability, 2)}`;
      }),
    ]),
  };
}

/** The generated explanation, in the seed's terms. Exported for tests. */
export function explain(run: RunData, cmp: Comparison): string[] {
  const rows = cmp.rows;
  const n = cmp.followers;
  const out: string[] = [];
  if (rows.length === 0) return ['No quorum of this run could be compared with the model.'];
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  const widthUs = (first.max_delay_ms - first.min_delay_ms) * 1000;
  const stepUs = widthUs / (n + 1);

  // Latency.
  if (rows.length >= 2) {
    const measuredSlope = slope(rows.map((r) => r.quorum), rows.map((r) => r.measured_latency_mean_us));
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
    out.push(`Only W = ${first.quorum} was measured: mean latency ${fmt(first.measured_latency_mean_us)} µs against the model's ${fmt(first.model_latency_mean_us)} µs of injected delay.`);
  }

  // Distance from the model (latency).
  const offsets = rows.map((r) => r.measured_minus_model_mean_us);
  const meanOffset = offsets.reduce((s, x) => s + x, 0) / offsets.length;
  let distance =
    `How far the measurement sits from the model: measured mean latency is ${fmt(meanOffset)} µs above the model's injected delay on average ` +
    `(${fmt(Math.min(...offsets))}..${fmt(Math.max(...offsets))} µs across W). The model counts only the injected delay; the rest is the HTTP round trips client → leader → followers and back, JSON handling and timer lateness.`;
  const realised = rows.filter((r) => r.model_realised_latency_mean_us !== null);
  if (realised.length > 0) {
    const lateness = realised.reduce((s, r) => s + (r.model_realised_latency_mean_us! - r.model_latency_mean_us), 0) / realised.length;
    distance += ` Feeding the model the delays the leader actually realised (recorded per replication request) moves it up by ${fmt(lateness)} µs on average (timer lateness), leaving about ${fmt(meanOffset - lateness)} µs of network and processing per write.`;
  }
  const withBase = rows.filter((r) => r.measured_minus_baseline_mean_us !== null);
  if (withBase.length > 0) {
    const resid = withBase.reduce((s, r) => s + (r.measured_minus_baseline_mean_us! - r.model_latency_mean_us), 0) / withBase.length;
    distance += ` After subtracting the zero-delay baseline run's latency, measured − model is ${fmt(resid)} µs on average.`;
  }
  out.push(distance);

  // Staleness.
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

  // Read quorums.
  const strictBad = cmp.readQuorums.filter((r) => r.strict_quorum && (r.measured_stale_probability ?? 0) > 0);
  if (cmp.readQuorums.some((r) => r.measured_stale_probability !== null)) {
    out.push(
      strictBad.length === 0
        ? `Read quorums: reading R followers and keeping the newest version is never stale when W + R > N (measured: 0 in every such case); below that, the stale probability falls quickly with R (table below).`
        : `WARNING: reads with W + R > N were stale (${strictBad.map((r) => `W = ${r.quorum}, R = ${r.read_quorum}: ${pct(r.measured_stale_probability, 3)}`).join('; ')}); a strict quorum must never be.`,
    );
  }

  // Convergence.
  const bad = run.summary.filter((r) => !r.converged || r.mismatched_keys > 0);
  out.push(
    bad.length === 0
      ? `Did the replicas converge? Yes: after every quorum's load, all ${n} followers matched the leader on every key (mismatched keys: 0).`
      : `Did the replicas converge? NO for ${bad.map((r) => `W = ${r.quorum} (${r.mismatched_keys} mismatched keys)`).join(', ')}: followers still differed from the leader after the run.`,
  );
  return out;
}

export function reportBlocks(run: RunData, cmp: Comparison, plots: { file: string; title: string }[]): Block[] {
  const blocks: Block[] = [{ kind: 'heading', level: 1, text: `quorum-lab run report: ${run.dir.split('/').filter(Boolean).pop() ?? run.dir}` }];
  blocks.push(...configBlocks(run));
  blocks.push({ kind: 'heading', level: 2, text: 'What the numbers say' });
  for (const text of explain(run, cmp)) blocks.push({ kind: 'paragraph', text });
  blocks.push({ kind: 'heading', level: 2, text: 'Plots' });
  for (const p of plots) blocks.push({ kind: 'figure', file: p.file, caption: p.title });
  blocks.push({ kind: 'heading', level: 2, text: 'Summary (summary.csv)' });
  blocks.push(summaryTable(run));
  blocks.push({ kind: 'heading', level: 2, text: 'Measured vs model (model.csv)' });
  blocks.push({
    kind: 'paragraph',
    text: 'Model: N followers, injected delays i.i.d. Uniform[a, b]; the write waits for d(W), the W-th smallest; a follower is stale for a read reaching it g after the W-th apply iff its delay exceeds d(W) + g. "Model (realised)" resamples the delays the leader actually realised.',
  });
  blocks.push(modelTable(cmp));
  blocks.push({ kind: 'heading', level: 2, text: 'Read quorums (read_quorums.csv)' });
  blocks.push({ kind: 'paragraph', text: 'Probability that all R randomly chosen followers are stale, P_R = Σ_k P(k)·C(k, R)/C(N, R), from the measured distribution of stale followers per read-back (stale_counts.csv) and from the model.' });
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
        return [`| ${b.header.map(cell).join(' | ')} |`, `|${b.header.map(() => '---').join('|')}|`, ...b.rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
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
  const title = blocks.find((b) => b.kind === 'heading')?.kind === 'heading' ? (blocks[0] as { text: string }).text : 'quorum-lab report';
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
