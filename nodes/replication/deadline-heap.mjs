// Min-heap of replication legs by deadline (ns on the engine's clock), FIFO among equal
// deadlines. Plain JS (like every module of the replication thread) so the thread needs no
// TypeScript loader under vitest, tsx or a bundle. Same algorithm as nodes/min-heap.ts,
// specialised to the fields the engine uses (no comparator call per step).

/** @typedef {{ deadlineNs: number, seq: number, follower: number, write: object }} Leg */

/** @param {Leg} a @param {Leg} b */
function before(a, b) {
  return a.deadlineNs < b.deadlineNs || (a.deadlineNs === b.deadlineNs && a.seq < b.seq);
}

export class DeadlineHeap {
  /** @type {Leg[]} */
  items = [];

  get size() {
    return this.items.length;
  }

  peek() {
    return this.items[0];
  }

  /** @param {Leg} item */
  push(item) {
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent];
      if (!before(item, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = item;
  }

  pop() {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    const n = items.length;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && before(items[right], items[left]) ? right : left;
      if (!before(items[child], last)) break;
      items[i] = items[child];
      i = child;
    }
    items[i] = last;
    return top;
  }
}
