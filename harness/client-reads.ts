/**
 * Reads with their own budget (issue 12): every read-back and visibility probe of a worker thread
 * goes through one pool per node, separate from the write connections, and is settled after at most
 * `timeoutMs` whatever the node does. A read unanswered by then (paused process, partition, refused
 * connection) has no reply: `unavailable`, a third outcome beside fresh and stale; it
 * never blocks a write. The request itself is not aborted at the deadline: aborting destroys a
 * keep-alive connection, and on a busy machine a late-but-healthy node would then pay a reconnect
 * per read, get later still, and cascade. It runs on until it is answered (its connection goes back
 * to the pool) or undici's backstop timeout (BACKSTOP_FACTOR x the budget) frees it. At most
 * `capPerNode` reads per node are in flight: a read beyond that is not sent and counts unavailable
 * at once (`notSent`), so a dead node cannot pile up sockets.
 */
import { performance } from 'node:perf_hooks';
import type { Client } from 'undici';
import { SERVED_AT_HEADER, TRACE_HEADER } from '../contracts/trace.ts';
import { createConnection, fastDispatch, type FastReply } from './fast-client.ts';
import { parseReadReply, type ReadOutcome } from './http.ts';

export interface TimedRead {
  /** The node's answer; null when it gave none within the budget (unavailable). */
  reply: ReadOutcome | null;
  /** performance.now() at send and at settling, ms. */
  sentMs: number;
  receivedMs: number;
  /** SERVED_AT_HEADER of a traced read, µs on the shared monotonic clock; null when absent. */
  servedUs: number | null;
  /** Not sent because capPerNode reads to this node were already in flight. */
  notSent: boolean;
}

/** Gets each read's outcome exactly once. */
export type ReadCallback = (r: TimedRead) => void;

export interface ReadEngine {
  /** Read `key` from node `node` (0 = leader); never rejects. */
  read(node: number, key: string, traced: boolean): Promise<TimedRead>;
  /** The same with a callback, called exactly once (never synchronously): no promise per read. */
  readThen(node: number, key: string, traced: boolean, done: ReadCallback): void;
  /** Reads not sent because of the cap, per node. */
  notSent(): number[];
  /** Wait for every read still in flight to settle, then close the connections. */
  close(): Promise<void>;
}

export interface ReadEngineOptions {
  timeoutMs: number;
  capPerNode: number;
}

const TRACE_HEADERS = { [TRACE_HEADER]: '1' };
/** undici's own timeout, as a multiple of the budget: it frees the connection of a node that never answers. */
const BACKSTOP_FACTOR = 5;

/** One read in flight: settled by its answer or by its deadline, whichever comes first. */
interface Pending {
  key: string;
  sentMs: number;
  deadlineMs: number;
  settled: boolean;
  done: ReadCallback;
}

function settle(p: Pending, reply: ReadOutcome | null, servedUs: number | null): void {
  if (p.settled) return;
  p.settled = true;
  p.done({ reply, sentMs: p.sentMs, receivedMs: performance.now(), servedUs, notSent: false });
}

/**
 * The budgets of all reads in flight, on one timer. Every read gets the same budget, so deadlines
 * come in send order and a FIFO queue is a deadline queue: no timer object per read.
 */
function createDeadlines(): { add(p: Pending): void; stop(): void } {
  let queue: Pending[] = [];
  let head = 0;
  let timer: NodeJS.Timeout | null = null;
  const arm = (now: number): void => {
    while (head < queue.length && queue[head]!.settled) head++;
    if (head === queue.length) {
      queue = [];
      head = 0;
      timer = null;
      return;
    }
    // Unref'd: a read in flight keeps the loop alive by its socket, and a settled one needs no timer.
    timer = setTimeout(expire, Math.max(1, queue[head]!.deadlineMs - now)).unref();
  };
  const expire = (): void => {
    const now = performance.now();
    const due: Pending[] = [];
    while (head < queue.length && (queue[head]!.settled || queue[head]!.deadlineMs <= now)) {
      const p = queue[head++]!;
      if (!p.settled) due.push(p);
    }
    if (head > 1024) {
      queue = queue.slice(head);
      head = 0;
    }
    // After a stall of this thread's event loop the timers phase runs before the poll phase that
    // would read an answer already waiting on the socket: setImmediate (after poll) lets such an
    // answer win, so the harness's own lateness is not counted as the node's unavailability.
    if (due.length > 0) setImmediate(() => due.forEach((p) => settle(p, null, null)));
    arm(now);
  };
  return {
    add(p) {
      queue.push(p);
      if (timer === null) arm(p.sentMs);
    },
    stop() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}

function onReply(p: Pending, err: Error | null, res: FastReply | null): void {
  // No answer at all (refused, reset, undici's own timeout): unavailable like a silent node.
  if (err !== null || res === null) {
    settle(p, null, null);
    return;
  }
  const served = res.header === null ? NaN : Number(res.header);
  settle(p, parseReadReply(res.status, res.text, p.key), Number.isFinite(served) ? served : null);
}

export function createReadEngine(urls: readonly string[], o: ReadEngineOptions): ReadEngine {
  const backstopMs = o.timeoutMs * BACKSTOP_FACTOR;
  // Per node, the idle keep-alive connections; one is opened when none is idle (at most capPerNode).
  const idle: Client[][] = urls.map(() => []);
  const all: Client[] = [];
  const inFlight = urls.map(() => 0);
  const skipped = urls.map(() => 0);
  const deadlines = createDeadlines();
  let drained: (() => void) | null = null;

  const readThen = (node: number, key: string, traced: boolean, done: ReadCallback): void => {
    const sentMs = performance.now();
    if (inFlight[node]! >= o.capPerNode) {
      skipped[node]!++;
      const r: TimedRead = { reply: null, sentMs, receivedMs: sentMs, servedUs: null, notSent: true };
      queueMicrotask(() => done(r));
      return;
    }
    inFlight[node]!++;
    let conn = idle[node]!.pop();
    if (conn === undefined) {
      conn = createConnection(urls[node]!, { timeoutMs: backstopMs });
      all.push(conn);
    }
    const p: Pending = { key, sentMs, deadlineMs: sentMs + o.timeoutMs, settled: false, done };
    deadlines.add(p);
    // The request runs on past the budget until answered or undici's backstop frees its connection.
    const c = conn;
    let dispatching = true;
    fastDispatch(
      c,
      {
        method: 'GET',
        path: `/read?key=${encodeURIComponent(key)}`,
        timeoutMs: backstopMs,
        headers: traced ? TRACE_HEADERS : undefined,
        captureHeader: traced ? SERVED_AT_HEADER : undefined,
      },
      (err, res) => {
        inFlight[node]!--;
        idle[node]!.push(c);
        // undici reports a request it refused at once (a closed connection) synchronously.
        if (dispatching) queueMicrotask(() => onReply(p, err, res));
        else onReply(p, err, res);
        if (drained !== null && inFlight.every((n) => n === 0)) drained();
      },
    );
    dispatching = false;
  };

  return {
    readThen,
    read: (node, key, traced) => new Promise<TimedRead>((resolve) => readThen(node, key, traced, resolve)),
    notSent: () => [...skipped],
    async close() {
      if (inFlight.some((n) => n > 0)) await new Promise<void>((resolve) => (drained = resolve));
      deadlines.stop();
      await Promise.allSettled(all.map((c) => c.close().catch(() => c.destroy())));
    },
  };
}
