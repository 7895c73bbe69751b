/** The trace-cost benchmark's arithmetic on hand-built blocks (bench/trace-cost.ts); the cluster part runs in `npm run bench`. */
import { describe, expect, test } from 'vitest';
import { createHistogram, encodeHistogram, recordUs } from '../harness/histogram.ts';
import { summarise, verdict, type TraceBlock } from '../bench/trace-cost.ts';
import { treatedFirst } from '../bench/paired.ts';

const WRITES = 100;

/** A block whose CPU per write is `usPerWrite`: half the harness, a quarter the leader, the rest the followers. */
function block(pair: number, trace: 0 | 1, usPerWrite: number, over: Partial<TraceBlock> = {}): TraceBlock {
  const total = usPerWrite * WRITES;
  return {
    pair,
    trace,
    writes: WRITES,
    failed: 0,
    harnessUs: total / 2,
    nodeUs: [total / 4, ...Array.from({ length: 5 }, () => total / 20)],
    achievedWritesPerSec: 150,
    latencyP50Us: 1000,
    latencyP99Us: 3000,
    clientTraces: trace === 1 ? WRITES : 0,
    leaderRecords: trace === 1 ? WRITES : 0,
    followerRecordsMin: trace === 1 ? WRITES : 0,
    joinedWrites: trace === 1 ? WRITES : 0,
    droppedRecords: 0,
    collectS: 0.01,
    collectHarnessUs: trace === 1 ? 8000 : 100,
    collectNodesUs: trace === 1 ? 4000 : 100,
    ...over,
  };
}

/** Pairs at 4000 µs/write untraced and the given shares traced, in ABBA order. */
function blocksWith(shares: number[], over: (b: TraceBlock) => Partial<TraceBlock> = () => ({})): TraceBlock[] {
  return shares.flatMap((s, pair) => {
    const u = block(pair, 0, 4000);
    const t = block(pair, 1, 4000 * (1 + s));
    const both = treatedFirst(pair) ? [t, u] : [u, t];
    return both.map((b) => ({ ...b, ...over(b) }));
  });
}

function latency(): [string[], string[]] {
  const h = createHistogram();
  for (const us of [900, 1000, 1100, 3000]) recordUs(h, us);
  return [[encodeHistogram(h)], [encodeHistogram(h)]];
}

describe('trace-cost summary', () => {
  test('per-pair shares, their mean with the t interval, per-arm CPU, the collection per traced write', () => {
    const r = summarise(blocksWith([0.01, 0.03, 0.02, 0.02]), latency(), WRITES);
    expect(r.pairs.map((p) => p.share)).toEqual([0.01, 0.03, 0.02, 0.02]);
    expect(r.pairs.map((p) => p.tracedFirst)).toEqual([false, true, false, true]);
    // sd of (1, 3, 2, 2) % is 0.8165 %; half-width t(3) × sd / √4 = 1.299 %.
    expect(r.overhead.meanShare).toBe(0.02);
    expect(r.overhead.medianShare).toBe(0.02);
    expect(r.overhead.lowShare).toBeCloseTo(0.007, 4);
    expect(r.overhead.highShare).toBeCloseTo(0.033, 4);
    expect(r.overhead.judged).toBe('holds');
    const [base, traced] = r.fractions;
    expect([base!.totalUsPerWrite, base!.harnessUsPerWrite, base!.leaderUsPerWrite]).toEqual([4000, 2000, 1000]);
    expect(traced!.totalUsPerWrite).toBe(4080);
    expect(r.overhead.harnessDeltaUsPerWrite).toBe(40);
    expect(r.overhead.nodesDeltaUsPerWrite).toBe(40);
    // (8000 + 4000) µs per 100 traced writes = 120 µs, ÷ 4000 µs per write.
    expect([traced!.traceCollectCpuUsPerTracedWrite, traced!.nodeCollectUsPerTracedWrite]).toEqual([80, 40]);
    expect(r.overhead.collectionShare).toBe(0.03);
    expect(r.recordedEveryTrace).toBe(true);
    expect(verdict(r)).toMatch(/mean \+2 %, 95 % interval \+0\.7 % \.\. \+3\.3 %, median \+2 % \(≤ 5 %: holds\)/);
  });

  test('the target judged on the interval: MISSED above it, not resolved across it', () => {
    expect(summarise(blocksWith([0.08, 0.09, 0.1, 0.09]), latency(), WRITES).overhead.judged).toBe('MISSED');
    expect(summarise(blocksWith([-0.05, 0.12, 0.0, 0.05]), latency(), WRITES).overhead.judged).toBe('not resolved');
  });

  test('no verdict when a node missed traced writes, when an untraced block left records, or when a block fell behind', () => {
    const missed = summarise(
      blocksWith([0.01, 0.02], (b) => (b.trace === 1 && b.pair === 1 ? { followerRecordsMin: WRITES - 3 } : {})),
      latency(),
      WRITES,
    );
    expect(missed.recordedEveryTrace).toBe(false);
    expect(verdict(missed)).toMatch(/no verdict: the nodes did not record every traced write/);
    const leaked = summarise(
      blocksWith([0.01, 0.02], (b) => (b.trace === 0 ? { leaderRecords: 1 } : {})),
      latency(),
      WRITES,
    );
    expect(leaked.recordedEveryTrace).toBe(false);
    const behind = summarise(
      blocksWith([0.01, 0.02], (b) => (b.pair === 0 ? { achievedWritesPerSec: 120 } : {})),
      latency(),
      WRITES,
    );
    expect(verdict(behind)).toMatch(/no verdict: a block achieved 120 of 150 writes\/s/);
  });
});
