import { afterEach, describe, expect, test } from 'vitest';
import { createDelayScheduler, SchedulerError, type DelayScheduler } from '../nodes/scheduler.ts';
import { createRng } from '../lib/rng.ts';

const open: DelayScheduler[] = [];
function make(options?: Parameters<typeof createDelayScheduler>[0]): DelayScheduler {
  const s = createDelayScheduler(options);
  open.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

function busyWaitMs(ms: number): void {
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  while (process.hrtime.bigint() < end);
}

/** Schedule every delay, resolve with the indices in firing order and each realised µs. */
function fireAll(
  s: DelayScheduler,
  delaysUs: number[],
): Promise<{ order: number[]; realised: number[]; independentUs: number[] }> {
  return new Promise((resolve) => {
    const order: number[] = [];
    const realised: number[] = new Array(delaysUs.length);
    const independentUs: number[] = new Array(delaysUs.length);
    delaysUs.forEach((d, i) => {
      const t0 = process.hrtime.bigint();
      s.schedule(d, (r) => {
        independentUs[i] = Number(process.hrtime.bigint() - t0) / 1000;
        realised[i] = r;
        order.push(i);
        if (order.length === delaysUs.length) resolve({ order, realised, independentUs });
      });
    });
  });
}

describe('precise scheduler: order and never early', () => {
  test('fires in deadline order, not in schedule order', async () => {
    const s = make();
    const rng = createRng(7);
    const delays = Array.from({ length: 60 }, () => 100 + rng.next() * 900);
    // The scheduler reads the clock inside schedule(i), between stamps[i] and stamps[i + 1], so
    // its deadline i lies in [stamps[i] + d_i, stamps[i + 1] + d_i] whatever preempts the test.
    const stamps: bigint[] = [];
    const order: number[] = [];
    await new Promise<void>((resolve) => {
      delays.forEach((d, i) => {
        stamps.push(process.hrtime.bigint());
        s.schedule(d, () => {
          order.push(i);
          if (order.length === delays.length) resolve();
        });
      });
      stamps.push(process.hrtime.bigint());
    });
    const lowNs = (i: number): bigint => stamps[i]! + BigInt(Math.ceil(delays[i]! * 1000));
    const highNs = (i: number): bigint => stamps[i + 1]! + BigInt(Math.ceil(delays[i]! * 1000));
    for (let k = 1; k < order.length; k++) {
      // Fired a before b: a's deadline cannot be provably later than b's.
      const [a, b] = [order[k - 1]!, order[k]!];
      expect(lowNs(a) <= highNs(b), `fired ${a} (${delays[a]} µs) before ${b} (${delays[b]} µs)`).toBe(true);
    }
    expect(order).not.toEqual(delays.map((_, i) => i)); // not simply schedule order
  });

  test('equal delays fire first-in first-out', async () => {
    const s = make();
    const { order } = await fireAll(
      s,
      Array.from({ length: 40 }, () => 300),
    );
    expect(order).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  test('never fires early (realised and an independent hrtime both ≥ target)', async () => {
    const s = make();
    const rng = createRng(11);
    const delays = Array.from({ length: 400 }, () => rng.next() * 1000);
    const { realised, independentUs } = await fireAll(s, delays);
    delays.forEach((d, i) => {
      expect(realised[i]!).toBeGreaterThanOrEqual(d);
      expect(independentUs[i]!).toBeGreaterThanOrEqual(d);
    });
  });

  test('zero, negative and past deadlines fire at once, asynchronously, in order', async () => {
    const s = make();
    let inside = true;
    let firedInside = false;
    const p = fireAll(s, [0, -50, 0, -1e9]);
    s.schedule(0, () => {
      if (inside) firedInside = true;
    });
    inside = false;
    const { order } = await p;
    expect(firedInside).toBe(false);
    expect(order).toEqual([0, 1, 2, 3]);
  });

  test('after a long synchronous block, every overdue entry fires in deadline order in one pass', async () => {
    const s = make();
    const delays = [900, 150, 600, 300, 750, 450, 1000, 200];
    let loopTurns = 0;
    let ticking = true;
    const tick = (): void => {
      loopTurns++;
      if (ticking && loopTurns < 1_000_000) setImmediate(tick);
    };
    setImmediate(tick);
    const turnsAtFire: number[] = [];
    // As in the first test: deadline i lies in [stamps[i] + d_i, stamps[i + 1] + d_i], so a
    // preemption while scheduling (CI runs files in parallel) cannot make the check wrong.
    const stamps: bigint[] = [];
    const done = new Promise<number[]>((resolve) => {
      const order: number[] = [];
      delays.forEach((d, i) => {
        stamps.push(process.hrtime.bigint());
        s.schedule(d, () => {
          turnsAtFire.push(loopTurns);
          order.push(i);
          if (order.length === delays.length) resolve(order);
        });
      });
      stamps.push(process.hrtime.bigint());
    });
    // Block until every deadline is overdue, measured from the last schedule() call.
    busyWaitMs(5);
    const order = await done;
    ticking = false;
    const lowNs = (i: number): bigint => stamps[i]! + BigInt(delays[i]! * 1000);
    const highNs = (i: number): bigint => stamps[i + 1]! + BigInt(delays[i]! * 1000);
    for (let k = 1; k < order.length; k++) {
      const [a, b] = [order[k - 1]!, order[k]!];
      expect(lowNs(a) <= highNs(b), `fired ${delays[a]} µs before ${delays[b]} µs`).toBe(true);
    }
    expect(order).toHaveLength(delays.length);
    // No loop turn between the first and the last callback: one pass.
    expect(new Set(turnsAtFire).size).toBe(1);
  });

  test('pending counts scheduled-but-not-fired delays', async () => {
    const s = make();
    expect(s.pending).toBe(0);
    const seen: number[] = [];
    const done = new Promise<void>((resolve) => {
      for (let i = 0; i < 10; i++) {
        s.schedule(200 + i * 50, () => {
          seen.push(s.pending);
          if (seen.length === 10) resolve();
        });
      }
    });
    expect(s.pending).toBe(10);
    await done;
    expect(seen).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(s.pending).toBe(0);
  });

  test('callbacks may schedule more delays (the leader re-arms from callbacks)', async () => {
    const s = make();
    const fired: number[] = [];
    await new Promise<void>((resolve) => {
      const step = (n: number): void => {
        s.schedule(n % 2 === 0 ? 0 : 250, () => {
          fired.push(n);
          if (n === 20) resolve();
          else step(n + 1);
        });
      };
      step(0);
    });
    expect(fired).toEqual(Array.from({ length: 21 }, (_, i) => i));
  });

  test('rejects bad delays and options with stable codes', () => {
    const s = make();
    for (const bad of [NaN, Infinity, undefined, '5']) {
      expect(() => s.schedule(bad as number, () => {})).toThrow(
        expect.objectContaining({ code: 'QL_ERR_SCHEDULER_DELAY' }),
      );
    }
    expect(() => createDelayScheduler({ strategy: 'spin' as 'precise' })).toThrow(SchedulerError);
    expect(() => createDelayScheduler({ spinUs: -1 })).toThrow(
      expect.objectContaining({ code: 'QL_ERR_SCHEDULER_OPTION' }),
    );
    expect(() => createDelayScheduler({ timerSlackNs: 1.5 })).toThrow(
      expect.objectContaining({ code: 'QL_ERR_SCHEDULER_OPTION' }),
    );
  });
});

describe('precise scheduler: close()', () => {
  test('drops pending callbacks, refuses new ones, and is idempotent', async () => {
    const s = createDelayScheduler();
    let fired = 0;
    for (let i = 0; i < 10; i++) s.schedule(2000 + i * 100, () => fired++);
    s.schedule(0, () => fired++);
    expect(s.pending).toBe(11);
    await s.close();
    expect(s.pending).toBe(0);
    await s.close();
    expect(() => s.schedule(100, () => fired++)).toThrow(expect.objectContaining({ code: 'QL_ERR_SCHEDULER_CLOSED' }));
    // Wait past every deadline: nothing fires.
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toBe(0);
  });

  test('the timeout strategy honours the same close() contract', async () => {
    const s = createDelayScheduler({ strategy: 'timeout' });
    let fired = 0;
    for (let i = 0; i < 5; i++) s.schedule(500, () => fired++);
    expect(s.pending).toBe(5);
    await s.close();
    expect(s.pending).toBe(0);
    await new Promise((r) => setTimeout(r, 10));
    expect(fired).toBe(0);
    expect(() => s.schedule(100, () => {})).toThrow(expect.objectContaining({ code: 'QL_ERR_SCHEDULER_CLOSED' }));
  });
});
