import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runExperiment } from '../harness/experiment.ts';
import type { ClusterOptions } from '../harness/cluster-target.ts';
import {
  LATENCY_PERCENTILE_COLUMNS,
  STALE_COUNTS_COLUMNS,
  STALENESS_COLUMNS,
  SUMMARY_COLUMNS,
  VISIBILITY_COLUMNS,
} from '../harness/csv.ts';
import { formatIncomplete, formatLoadWarnings } from '../harness/summary.ts';
import { startFakeCluster, type FakeCluster, type FakeClusterOptions } from './harness-fake.ts';

/** The harness's CSVs hold no quoted fields, so a split is enough here. */
function parse(text: string): { header: string[]; rows: Record<string, string>[] } {
  const [head, ...lines] = text.trimEnd().split('\n');
  const header = head!.split(',');
  return { header, rows: lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i]!, v]))) };
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ql-harness-'));
  dirs.push(d);
  return d;
}

function fakeLauncher(extra: Partial<FakeClusterOptions> = {}) {
  const started: FakeCluster[] = [];
  const configs: ClusterOptions[] = [];
  return {
    started,
    configs,
    startCluster: async (o: ClusterOptions) => {
      configs.push(o);
      const c = await startFakeCluster({ ...o, minDelayMs: 2, maxDelayMs: 20, ...extra });
      started.push(c);
      return c;
    },
  };
}

describe('runExperiment against a fake cluster', () => {
  test('quorums 1 and 5: every file with the documented columns, W=5 never stale, converged, W=5 slower', async () => {
    const out = join(await tempDir(), 'run');
    const launcher = fakeLauncher();
    const result = await runExperiment(
      // Delays of 2..20 ms keep W=1 and W=5 far apart even when the fake's single event loop is busy.
      {
        quorums: '1,5',
        writes: 300,
        warmup: 40,
        clients: 4,
        threads: 2,
        seed: 42,
        visibility: 0.3,
        visibilityMax: '500ms',
        readTimeout: '5s',
        out,
        analyze: false,
      },
      { startCluster: launcher.startCluster },
    );
    expect(launcher.started.every((c) => c.stopped())).toBe(true);
    expect(launcher.configs.map((c) => c.writeQuorum)).toEqual([1, 5]);
    expect(launcher.configs[0]!.delaySeed).not.toBe(launcher.configs[1]!.delaySeed);
    expect(result.converged).toBe(true);

    const table = async (name: string) => {
      const text = await readFile(join(out, name), 'utf8');
      return parse(text);
    };
    const summary = await table('summary.csv');
    expect(summary.header).toEqual([...SUMMARY_COLUMNS]);
    expect(summary.rows).toHaveLength(2);
    const [w1, w5] = summary.rows as Record<string, string>[];
    for (const row of [w1!, w5!]) {
      expect(row.converged).toBe('true');
      expect(Number(row.writes_ok)).toBe(300);
      expect(Number(row.follower_reads)).toBe(1500);
      expect(row.load_model).toBe('closed');
      expect(row.target_writes_per_sec).toBe('');
      expect(Number(row.mismatched_keys)).toBe(0);
    }
    expect(Number(w5!.stale_reads)).toBe(0);
    expect(Number(w1!.stale_reads)).toBeGreaterThan(0);

    const pct = await table('latency_percentiles.csv');
    expect(pct.header).toEqual([...LATENCY_PERCENTILE_COLUMNS]);
    // W=5 waits for the slowest of five 2..20 ms delays, W=1 for the fastest. The 10th percentile is
    // compared rather than the median: it is the least disturbed by queueing when the machine is busy.
    const p10 = (q: string) => Number(pct.rows.find((r) => r.quorum === q && Number(r.percentile) === 10)!.latency_us);
    expect(p10('5')).toBeGreaterThan(p10('1'));
    const q1 = pct.rows.filter((r) => r.quorum === '1').map((r) => Number(r.latency_us));
    expect(q1.length).toBeGreaterThan(20);
    expect([...q1].sort((a, b) => a - b)).toEqual(q1);

    const stal = await table('staleness.csv');
    expect(stal.header).toEqual([...STALENESS_COLUMNS]);
    expect(stal.rows.map((r) => r.replica).slice(0, 6)).toEqual([
      'leader',
      'follower1',
      'follower2',
      'follower3',
      'follower4',
      'follower5',
    ]);
    expect(stal.rows.filter((r) => r.replica === 'leader').every((r) => r.stale === '0')).toBe(true);

    const counts = await table('stale_counts.csv');
    expect(counts.header).toEqual([...STALE_COUNTS_COLUMNS]);
    const c5 = counts.rows.filter((r) => r.quorum === '5');
    expect(c5.map((r) => Number(r.stale_followers))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Number(c5[0]!.writes)).toBe(300);
    const c1 = counts.rows.filter((r) => r.quorum === '1');
    // At W=1 with a fresh read-back right after the ack, typically 4 followers are stale.
    expect(c1.reduce((a, r) => a + Number(r.writes), 0)).toBe(300);
    expect(Number(c1[0]!.writes)).toBeLessThan(300);

    const vis = await table('visibility.csv');
    expect(vis.header).toEqual([...VISIBILITY_COLUMNS]);
    const v5 = vis.rows.filter((r) => r.quorum === '5');
    expect(Number(v5[0]!.offset_us)).toBe(0);
    expect(Number(v5[0]!.fully_visible_fraction)).toBe(1);
    const v1 = vis.rows.filter((r) => r.quorum === '1').map((r) => Number(r.fully_visible_fraction));
    expect(v1[0]!).toBeLessThan(1);
    expect(v1.at(-1)).toBe(1);
    expect([...v1].sort((a, b) => a - b)).toEqual(v1);

    for (const w of [1, 5]) {
      const hgrm = await readFile(join(out, `latency_q${w}.hgrm`), 'utf8');
      expect(hgrm).toMatch(/Value\s+Percentile\s+TotalCount/);
      expect(hgrm).toMatch(/Total count\s+=\s+300\]/);
    }
    const meta = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8'));
    expect(meta.seed).toBe(42);
    expect(meta.options.writes).toBe(300);
    expect(meta.tool.name).toBe('quorum-lab');
    expect(meta.cpu.count).toBeGreaterThan(0);
    expect(Object.keys(meta.leaderStats)).toEqual(['1', '5']);
    expect(meta.cluster.perQuorum['5'].writeQuorum).toBe(5);
    expect(Date.parse(meta.endedAt)).toBeGreaterThanOrEqual(Date.parse(meta.startedAt));
  });

  test('a follower that drops writes makes the run fail to converge, and says so', async () => {
    const out = join(await tempDir(), 'run');
    const launcher = fakeLauncher({ lyingFollower: 2 });
    const result = await runExperiment(
      { quorums: '1', writes: 60, warmup: 0, clients: 2, threads: 1, keys: 10, out, analyze: false, readback: 0 },
      { startCluster: launcher.startCluster },
    );
    expect(result.converged).toBe(false);
    const r = result.results[0]!;
    expect(r.convergence.mismatchedKeys[2]).toBeGreaterThan(0);
    expect(r.convergence.mismatchedKeys.filter((_, i) => i !== 2).every((n) => n === 0)).toBe(true);
    // Acking without applying is exactly what the nothing-lost check exists for.
    expect(result.nothingLost).toBe(false);
    expect(r.lostWrites.nodes.filter((n) => n.lost > 0).map((n) => n.name)).toEqual(['follower3']);
    expect(r.lostWrites.lost).toBe(r.lostWrites.nodes[3]!.lost);
    const summary = await readFile(join(out, 'summary.csv'), 'utf8');
    expect(summary).toContain(',false,');
    const [head, row] = summary
      .trimEnd()
      .split('\n')
      .map((l) => l.split(','));
    expect(row![head!.indexOf('lost_writes')]).toBe(String(r.lostWrites.lost));
  });

  test('external cluster: the quorum is switched with PUT /config and the cluster is left running', async () => {
    const cluster = await startFakeCluster({ writeQuorum: 3, minDelayMs: 1, maxDelayMs: 4 });
    try {
      const out = join(await tempDir(), 'run');
      const result = await runExperiment({
        quorums: [2, 5],
        writes: 50,
        warmup: 10,
        clients: 2,
        threads: 1,
        out,
        analyze: false,
        leader: cluster.leaderUrl,
        followers: cluster.followerUrls.join(','),
      });
      expect(result.results.map((r) => r.quorum)).toEqual([2, 5]);
      expect(result.converged).toBe(true);
      expect(result.results[1]!.followerStale).toBe(0);
      expect(cluster.stopped()).toBe(false);
      expect(cluster.writesSeen()).toBe(120);
      // Delay bounds come from the external leader's GET /config, not from --min-delay/--max-delay.
      expect(result.results.map((r) => [r.minDelayMs, r.maxDelayMs])).toEqual([
        [1, 4],
        [1, 4],
      ]);
      const summary = parse(await readFile(join(out, 'summary.csv'), 'utf8'));
      expect(summary.rows.map((r) => r.max_delay_ms)).toEqual(['4', '4']);
    } finally {
      await cluster.stop();
    }
  });

  test('the cluster is stopped when the run throws mid-quorum', async () => {
    const out = join(await tempDir(), 'run');
    const launcher = fakeLauncher();
    await expect(
      runExperiment(
        { quorums: '1,2', writes: 20, warmup: 0, clients: 1, out, analyze: false },
        {
          startCluster: launcher.startCluster,
          onCluster: (t) => {
            if (t.quorum === 2) throw new Error('boom');
          },
        },
      ),
    ).rejects.toThrow('boom');
    expect(launcher.started).toHaveLength(2);
    expect(launcher.started.every((c) => c.stopped())).toBe(true);
    // The completed quorum is still written.
    expect(await readFile(join(out, 'summary.csv'), 'utf8')).toMatch(/^quorum,/);
  });

  test('an abort stops early, stops the cluster and reports aborted', async () => {
    const out = join(await tempDir(), 'run');
    const launcher = fakeLauncher();
    const controller = new AbortController();
    const result = await runExperiment(
      { quorums: '1,2', writes: 100_000, warmup: 0, clients: 2, threads: 1, out, analyze: false, readback: 0 },
      {
        startCluster: launcher.startCluster,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'measure' && p.done > 50) controller.abort();
        },
      },
    );
    expect(result.aborted).toBe(true);
    expect(result.results).toHaveLength(1);
    expect(result.results[0]!.ok).toBeLessThan(100_000);
    expect(result.results[0]!.stopped).toBe(true);
    expect(launcher.started.every((c) => c.stopped())).toBe(true);
    // The half-done row is marked, in the CSV and in the summary's first lines.
    const summary = parse(await readFile(join(out, 'summary.csv'), 'utf8'));
    expect(summary.rows[0]!.complete).toBe('false');
    expect(formatLoadWarnings(result.results)[0]).toMatch(
      /^W=1: INTERRUPTED: \d+ of the intended writes were measured/,
    );
  });

  test('a rate the cluster cannot follow is said plainly, before the table', async () => {
    const out = join(await tempDir(), 'run');
    const launcher = fakeLauncher();
    // 2..20 ms delays with 1 client in flight at a time cannot follow 100 000 writes/s.
    const result = await runExperiment(
      {
        quorums: '1',
        writes: 300,
        warmup: 0,
        clients: 1,
        threads: 1,
        rate: 100_000,
        maxInFlight: 1,
        out,
        analyze: false,
        readback: 0,
      },
      { startCluster: launcher.startCluster },
    );
    const r = result.results[0]!;
    expect(r.complete).toBe(true);
    expect(r.capWaits).toBeGreaterThan(0);
    expect(formatLoadWarnings(result.results)).toEqual([
      expect.stringMatching(/^W=1: OVERLOADED: achieved \d+ of the target 100000 writes\/s .*mostly queueing/),
    ]);
    expect(formatIncomplete(result.results)[0]).toMatch(/writes waited for --max-in-flight/);
  });
});
