import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { MinHeap } from '../nodes/min-heap.ts';

interface Item {
  key: number;
  seq: number;
}
// The scheduler's ordering: earlier key first, then first-in first-out among equal keys.
const before = (a: Item, b: Item): boolean => a.key < b.key || (a.key === b.key && a.seq < b.seq);

describe('MinHeap', () => {
  test('pops in key order, equal keys in insertion order (stable), with interleaved pushes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.boolean()), { maxLength: 300 }), (ops) => {
        const heap = new MinHeap<Item>(before);
        const model: Item[] = [];
        let seq = 0;
        const popped: Item[] = [];
        const expected: Item[] = [];
        for (const [key, popNow] of ops) {
          const item = { key, seq: seq++ };
          heap.push(item);
          model.push(item);
          if (popNow) {
            model.sort((a, b) => a.key - b.key || a.seq - b.seq);
            expected.push(model.shift()!);
            popped.push(heap.pop()!);
          }
        }
        model.sort((a, b) => a.key - b.key || a.seq - b.seq);
        while (heap.size > 0) popped.push(heap.pop()!);
        expected.push(...model);
        expect(popped).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  test('peek, size, clear and popping an empty heap', () => {
    const heap = new MinHeap<Item>(before);
    expect(heap.pop()).toBeUndefined();
    expect(heap.peek()).toBeUndefined();
    heap.push({ key: 2, seq: 0 });
    heap.push({ key: 1, seq: 1 });
    expect(heap.size).toBe(2);
    expect(heap.peek()).toEqual({ key: 1, seq: 1 });
    heap.clear();
    expect(heap.size).toBe(0);
    expect(heap.pop()).toBeUndefined();
  });
});
