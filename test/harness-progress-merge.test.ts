/** The main thread's merge of the client threads' progress reports (harness/client-pool.ts). */
import { describe, expect, test } from 'vitest';
import { createProgressMerge } from '../harness/client-pool.ts';
import { createHistogram, encodeHistogram, recordUs } from '../harness/histogram.ts';

function encoded(values: number[]): string {
  const h = createHistogram();
  for (const v of values) recordUs(h, v);
  return encodeHistogram(h);
}

describe('progress merge', () => {
  test('no histogram until every thread sent one; then merged once per round', () => {
    const m = createProgressMerge(2);
    const a = m.update(0, { done: 3, histogram: encoded([100, 200, 300]) });
    expect(a.done).toBe(3);
    expect(a.histogram).toBeUndefined();
    const b = m.update(1, { done: 2, histogram: encoded([1000, 2000]) });
    expect(b.done).toBe(5);
    expect(b.histogram?.totalCount).toBe(5);
    // Thread 0 alone: the round is not complete, the last merge stands.
    const c = m.update(0, { done: 4, histogram: encoded([100, 200, 300, 400]) });
    expect(c.done).toBe(6);
    expect(c.histogram).toBe(b.histogram);
    // Thread 1 completes the round: a new merge with both threads' latest.
    const d = m.update(1, { done: 3, histogram: encoded([1000, 2000, 3000]) });
    expect(d.histogram?.totalCount).toBe(7);
  });

  test('a thread that stopped reporting does not freeze the histogram: a second report in a round merges', () => {
    const m = createProgressMerge(2);
    m.update(0, { done: 1, histogram: encoded([100]) });
    m.update(1, { done: 1, histogram: encoded([100]) });
    m.update(0, { done: 2, histogram: encoded([100, 100]) });
    const r = m.update(0, { done: 3, histogram: encoded([100, 100, 100]) });
    expect(r.histogram?.totalCount).toBe(4);
  });

  test('reports without histograms still sum the writes done', () => {
    const m = createProgressMerge(3);
    m.update(0, { done: 5 });
    m.update(2, { done: 7 });
    expect(m.update(1, { done: 1 })).toEqual({ done: 13, histogram: undefined });
  });
});
