import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeRun, type AnalyzeResult } from '../analysis/analyze.ts';
import { readRun } from '../analysis/read-run.ts';

// The shipped run (data/reference-run) was produced by the real harness; the analysis and the
// notebook must keep working on it. Analysed in a copy so the shipped files stay as committed.
const REFERENCE = fileURLToPath(new URL('../data/reference-run/', import.meta.url));

describe('analysis of the shipped reference run', () => {
  let dir: string;
  let result: AnalyzeResult;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ql-reference-'));
    await cp(REFERENCE, dir, { recursive: true });
    result = await analyzeRun(dir, { monteCarloTrials: 5000 });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('was produced by the harness and says how', async () => {
    const meta = JSON.parse(await readFile(join(REFERENCE, 'meta.json'), 'utf8'));
    expect(meta.tool.name).toBe('quorum-lab');
    // A commit of this repository, not a hand-written string: the harness records `git rev-parse HEAD`.
    expect(meta.tool.gitCommit).toMatch(/^[0-9a-f]{40}$/);
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: REFERENCE }).toString().trim();
    if (git('rev-parse', '--is-shallow-repository') === 'false')
      expect(git('cat-file', '-t', meta.tool.gitCommit)).toBe('commit');
    expect(Date.parse(meta.endedAt)).toBeGreaterThan(Date.parse(meta.startedAt));
    expect(meta.options.quorums).toEqual([1, 2, 3, 4, 5]);
    expect(typeof meta.seed === 'number' || typeof meta.options.seed === 'number').toBe(true);
  });

  it('writes every output, the report with its plots', async () => {
    const names = result.files.map((f) => f.slice(dir.length + 1));
    for (const f of [
      'model.csv',
      'read_quorums.csv',
      'latency_vs_quorum.svg',
      'staleness_vs_quorum.svg',
      'latency_spectrum.svg',
      'visibility.svg',
      'report.md',
      'report.html',
    ]) {
      expect(names).toContain(f);
    }
    const report = await readFile(join(dir, 'report.md'), 'utf8');
    expect(report).toContain('![Write latency vs write quorum](latency_vs_quorum.svg)');
    expect(report).toContain('At W = 5 no follower read was stale');
  });

  it('holds the results the seed asks about: latency grows with W, W = 5 is never stale, replicas converged', async () => {
    const run = await readRun(dir);
    const byW = new Map(run.summary.map((r) => [r.quorum, r]));
    expect([...byW.keys()].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(byW.get(5)!.latency_mean_us).toBeGreaterThan(byW.get(1)!.latency_mean_us);
    expect(byW.get(5)!.stale_reads).toBe(0);
    expect(byW.get(1)!.stale_reads).toBeGreaterThan(0);
    for (const r of run.summary) {
      expect(r.converged).toBe(true);
      expect(r.mismatched_keys).toBe(0);
      expect(r.lost_writes).toBe(0);
    }
  });
});
