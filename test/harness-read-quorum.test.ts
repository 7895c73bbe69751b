/** --read-quorum (issue 10): reads that really ask R followers, observed beside the inferred fraction. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { analyzeRun } from '../analysis/analyze.ts';
import { parseCsv } from '../analysis/read-run.ts';
import type { ClusterOptions } from '../harness/cluster-target.ts';
import { OBSERVED_READ_QUORUM_COLUMNS } from '../harness/csv.ts';
import { runExperiment } from '../harness/experiment.ts';
import { resolveOptions } from '../harness/options.ts';
import { startFakeCluster } from './harness-fake.ts';

let dir = '';
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function table(text: string): Record<string, string>[] {
  const [head, ...rows] = parseCsv(text, 'x.csv');
  return rows.map((r) => Object.fromEntries(r.fields.map((v, i) => [head!.fields[i]!, v])));
}

describe('observed read quorums', () => {
  test('the option takes a list of R in 1..N', () => {
    expect(resolveOptions({ readQuorum: '1,3' }).readQuorums).toEqual([1, 3]);
    expect(resolveOptions({}).readQuorums).toEqual([]);
    expect(() => resolveOptions({ readQuorum: '6' })).toThrow(
      expect.objectContaining({ code: 'QL_ERR_OPT_READ_QUORUM' }),
    );
    expect(() => resolveOptions({ readQuorum: '2,2' })).toThrow(/listed twice/);
  });

  test('W + R > N reads no stale version; the observed fraction sits beside the inferred one', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ql-rq-'));
    const out = join(dir, 'run');
    // Replication delays of 2..20 ms make W = 2 writes stale on most other followers right after the ack.
    const startCluster = (o: ClusterOptions) => startFakeCluster({ ...o, minDelayMs: 2, maxDelayMs: 20 });
    await runExperiment(
      {
        quorums: '2',
        writes: 600,
        warmup: 20,
        clients: 2,
        threads: 1,
        seed: 5,
        readQuorum: '1,4',
        readTimeout: '5s',
        out,
        analyze: false,
      },
      { startCluster },
    );
    const text = await readFile(join(out, 'observed_read_quorums.csv'), 'utf8');
    expect(text.split('\n')[0]).toBe(OBSERVED_READ_QUORUM_COLUMNS.join(','));
    const observed = table(text);
    const r1 = observed.find((r) => r.read_quorum === '1')!;
    const r4 = observed.find((r) => r.read_quorum === '4')!;
    // R cycles through the list: half of the 600 read-backs each.
    expect(Number(r1.reads) + Number(r1.unavailable)).toBe(300);
    expect(Number(r4.reads) + Number(r4.unavailable)).toBe(300);
    // W + R = 6 > 5: one of the R followers always holds the write.
    expect(r4.stale).toBe('0');
    expect(Number(r1.stale)).toBeGreaterThan(0);

    await analyzeRun(out);
    const rq = table(await readFile(join(out, 'read_quorums.csv'), 'utf8'));
    const at = (r: string) => rq.find((x) => x.quorum === '2' && x.read_quorum === r)!;
    expect(at('4').observed_stale_probability).toBe('0');
    expect(at('3').observed_stale_probability).toBe('');
    // Observed and inferred (from the same run's stale counts) agree within sampling error: 300 reads, 4 sigma.
    const p = Number(at('1').measured_stale_probability);
    const sigma = Math.sqrt((p * (1 - p)) / Number(at('1').observed_reads));
    expect(Math.abs(Number(at('1').observed_stale_probability) - p)).toBeLessThan(4 * sigma + 0.02);
  });
});
