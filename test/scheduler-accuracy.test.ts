import { describe, expect, test } from 'vitest';
import { createDelayScheduler, type DelayScheduler } from '../nodes/scheduler.ts';
import { createSpinWindow } from '../nodes/scheduler-spin.ts';
import { createRng } from '../lib/rng.ts';

/** |realised − target| of `count` delays uniform in [100, 1000] µs, `batch` pending at a time. */
async function errorsOf(s: DelayScheduler, count: number, batch: number, seed: number): Promise<number[]> {
  const rng = createRng(seed);
  const errors: number[] = [];
  for (let done = 0; done < count; done += batch) {
    await new Promise<void>((resolve) => {
      let left = batch;
      for (let i = 0; i < batch; i++) {
        const target = 100 + rng.next() * 900;
        s.schedule(target, (realised) => {
          errors.push(Math.abs(realised - target));
          if (--left === 0) resolve();
        });
      }
    });
  }
  return errors;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('accuracy (generous margins; exact figures live in bench/delay-fidelity.ts)', () => {
  test('precise: median error well under 300 µs and clearly better than setTimeout in the same run', async () => {
    const precise = createDelayScheduler();
    const timeout = createDelayScheduler({ strategy: 'timeout' });
    try {
      await errorsOf(precise, 40, 20, 1); // warm-up: the helper thread starts, the JIT settles
      const p = await errorsOf(precise, 200, 20, 2);
      const t = await errorsOf(timeout, 200, 20, 2);
      expect(p).toHaveLength(200);
      expect(median(p)).toBeLessThan(300);
      expect(median(p) * 2).toBeLessThan(median(t));
    } finally {
      await Promise.all([precise.close(), timeout.close()]);
    }
  });
});

describe('spin window', () => {
  test('fixed: ignores lateness', () => {
    const w = createSpinWindow({ fixedUs: 150 });
    for (let i = 0; i < 100; i++) w.record(5e6);
    expect(w.ns).toBe(150_000);
  });

  test('adaptive: covers a high quantile of recent lateness, within its bounds, and follows changes', () => {
    const w = createSpinWindow({ minUs: 50, maxUs: 1000, initialUs: 200, quantile: 0.98, marginUs: 20, samples: 128 });
    expect(w.ns).toBe(200_000);
    // Quiet machine: alarms ~30 µs late → window shrinks to the 98th percentile + margin.
    for (let i = 0; i < 128; i++) w.record(20_000 + (i % 10) * 2_000);
    expect(w.ns).toBe(38_000 + 20_000);
    // Rare outliers (< 2 %) do not move it.
    for (let i = 0; i < 128; i++) w.record(i % 100 === 0 ? 4e6 : 30_000);
    expect(w.ns).toBe(50_000);
    // Slow wake-ups become common → the window grows, but never past maxUs.
    for (let i = 0; i < 128; i++) w.record(i % 4 === 0 ? 3e6 : 30_000);
    expect(w.ns).toBe(1_000_000);
    // Tiny lateness → never below minUs.
    for (let i = 0; i < 128; i++) w.record(1_000);
    expect(w.ns).toBe(50_000);
  });
});
