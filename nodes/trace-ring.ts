/**
 * Bounded trace storage for a node (issue 9): a ring that keeps the newest `capacity` records and
 * counts what it overwrote, so tracing never grows a node's memory; plus the small HTTP pieces
 * both roles share (is this request traced, the served-at header of a traced read).
 */
import type { IncomingMessage } from 'node:http';
import { SERVED_AT_HEADER, TRACE_HEADER, monotonicUs } from '../contracts/trace.ts';

export class TraceRing<T> {
  readonly capacity: number;
  private readonly items: (T | undefined)[];
  /** Index of the next slot to write. */
  private next = 0;
  private size = 0;
  private droppedCount = 0;

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw Object.assign(new RangeError(`trace ring capacity must be a positive integer, got ${capacity}`), {
        code: 'invalid_trace_capacity',
      });
    }
    this.capacity = capacity;
    this.items = new Array<T | undefined>(capacity);
  }

  push(item: T): void {
    if (this.size === this.capacity) this.droppedCount++;
    else this.size++;
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Records oldest first (a copy: later pushes do not change it). */
  snapshot(): T[] {
    const start = (this.next - this.size + this.capacity) % this.capacity;
    const out: T[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.items[(start + i) % this.capacity] as T);
    return out;
  }

  clear(): void {
    this.items.fill(undefined);
    this.next = 0;
    this.size = 0;
    this.droppedCount = 0;
  }

  get length(): number {
    return this.size;
  }

  /** Records overwritten since the last clear(). */
  get dropped(): number {
    return this.droppedCount;
  }
}

/** True when the request asks for a trace (TRACE_HEADER: 1). */
export function isTraced(req: IncomingMessage): boolean {
  return req.headers[TRACE_HEADER] === '1';
}

/** Extra headers for a `GET /read` answer: the served-at µs when the read is traced, else none. */
export function servedAtHeaders(req: IncomingMessage): Record<string, string> | undefined {
  return isTraced(req) ? { [SERVED_AT_HEADER]: String(monotonicUs()) } : undefined;
}
