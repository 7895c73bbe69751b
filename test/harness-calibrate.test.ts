import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { calibrate, calibratedWrites, type calibrationOptions, rateFromCapacity } from '../harness/calibrate.ts';
import { runExperiment } from '../harness/experiment.ts';
import { resolveOptions } from '../harness/options.ts';
import { startFakeCluster } from './harness-fake.ts';

// On a starved machine the calibration measures a low capacity and every step then runs open loop at
// a share of it, so the runs below take time in proportion to 1/capacity: 38 s at load average 16
// (capacity 13 writes/s) against ~5 s on a quiet machine. A timeout, not an assertion: it may be long.
vi.setConfig({ testTimeout: 90_000 });

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('rate options', () => {
  test('a number is writes/s, N% and auto are shares of the calibrated capacity, closed and absent are the closed loop', () => {
    expect(resolveOptions({ rate: '2500' })).toMatchObject({ rate: 2500, rateShare: null });
    expect(resolveOptions({ rate: '40%' })).toMatchObject({ rate: null, rateShare: 0.4 });
    expect(resolveOptions({ rate: 'auto' })).toMatchObject({ rate: null, rateShare: 0.5 });
    expect(resolveOptions({ rate: 'closed' })).toMatchObject({ rate: null, rateShare: null });
    expect(resolveOptions({})).toMatchObject({ rate: null, rateShare: null, rates: [] });
    expect(resolveOptions({ rates: '20%, 40%,1000' }).rates).toEqual([
      { share: 0.2 },
      { share: 0.4 },
      { perSec: 1000 },
    ]);
  });

  test.each([
    ['a share above 100 %', { rate: '150%' }, 'QL_ERR_OPT_RATE'],
    ['a zero share', { rates: '0%' }, 'QL_ERR_OPT_RATES'],
    ['a word', { rate: 'fast' }, 'QL_ERR_OPT_RATE'],
    ['a negative rate in a sweep', { rates: '100,-5' }, 'QL_ERR_OPT_RATES'],
  ])('rejects %s', (_name, input, code) => {
    expect(() => resolveOptions(input)).toThrow(expect.objectContaining({ code }));
  });
});

describe('calibration', () => {
  test('runs a short closed loop at the highest W and offers the share of what it reached', async () => {
    const options = resolveOptions({
      quorums: '1,3,2',
      rate: '40%',
      writes: 50_000,
      warmup: 1000,
      visibility: 0.2,
      fault: 'kill:1@10%',
    });
    let seen: ReturnType<typeof calibrationOptions> | null = null;
    const c = await calibrate(options, async (o) => {
      seen = o;
      return { achievedRate: 3001.4 };
    });
    expect(seen).toMatchObject({
      quorums: [3],
      rate: null,
      writes: 2000,
      warmup: 200,
      visibility: 0,
      trace: 0,
      faults: [],
      analyze: false,
    });
    expect(c).toMatchObject({ quorum: 3, capacityWritesPerSec: 3001, share: 0.4, rateWritesPerSec: 1200 });
    expect(rateFromCapacity(0.2, 0.5)).toBe(1);
    // Without --writes a calibrated step lasts at most 6 s, and measures at least 1000 writes.
    expect(calibratedWrites(10_000, 1200)).toBe(7200);
    expect(calibratedWrites(10_000, 5000)).toBe(10_000);
    expect(calibratedWrites(10_000, 10)).toBe(1000);
  });

  test('runExperiment with rate auto: calibration recorded in meta.json, every W open loop at the one rate', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'ql-cal-')), 'run');
    dirs.push(join(out, '..'));
    const starts: number[] = [];
    const result = await runExperiment(
      { quorums: '1,2', writes: 60, warmup: 5, clients: 2, threads: 1, readback: 0, rate: 'auto', out, analyze: false },
      {
        startCluster: async (o) => {
          starts.push(o.writeQuorum);
          return startFakeCluster({ ...o, minDelayMs: 0.1, maxDelayMs: 1 });
        },
      },
    );
    expect(starts).toEqual([2, 1, 2]);
    const c = result.calibration!;
    expect(c.quorum).toBe(2);
    expect(c.capacityWritesPerSec).toBeGreaterThan(0);
    expect(result.options.rate).toBe(c.rateWritesPerSec);
    expect(result.results.map((r) => r.targetRate)).toEqual([c.rateWritesPerSec, c.rateWritesPerSec]);
    const meta = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8'));
    expect(meta.calibration).toEqual(c);
    // --writes was given, so it stands.
    expect(c.writesPerQuorum).toBe(60);
    expect(meta.options.rate).toBe(c.rateWritesPerSec);
  });
});

describe('load sweep', () => {
  test('--rates: one run folder per rate, shares of one calibration, load_sweep.csv and latency_vs_load.svg', async () => {
    const { runLoadSweep } = await import('../harness/sweep.ts');
    const out = join(await mkdtemp(join(tmpdir(), 'ql-sweep-')), 'sweep');
    dirs.push(join(out, '..'));
    const starts: number[] = [];
    const sweep = await runLoadSweep(
      {
        quorums: '1',
        writes: 40,
        warmup: 5,
        clients: 2,
        threads: 1,
        readback: 0,
        rates: '40%,50',
        out,
        analyze: false,
      },
      {
        startCluster: async (o) => {
          starts.push(o.writeQuorum);
          return startFakeCluster({ ...o, minDelayMs: 0.1, maxDelayMs: 1 });
        },
      },
    );
    // One calibration (the first share), then one cluster per rate.
    expect(starts).toHaveLength(3);
    const cap = sweep.calibration!.capacityWritesPerSec;
    expect(sweep.rows.map((r) => [r.folder, r.offered_share, r.offered_writes_per_sec])).toEqual([
      ['rate_40pct', 0.4, Math.max(1, Math.round(cap * 0.4))],
      ['rate_50per_s', null, 50],
    ]);
    const csv = await readFile(join(out, 'load_sweep.csv'), 'utf8');
    expect(csv.split('\n')[0]).toBe(
      'quorum,offered_share,offered_writes_per_sec,achieved_writes_per_sec,latency_mean_us,latency_p50_us,latency_p99_us,stale_fraction,folder',
    );
    expect(await readFile(join(out, 'latency_vs_load.svg'), 'utf8')).toContain('<svg');
    expect(JSON.parse(await readFile(join(out, 'rate_50per_s', 'meta.json'), 'utf8')).options.rate).toBe(50);
  });
});
