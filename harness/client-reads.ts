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
import type { Pool } from 'undici';
import { SERVED_AT_HEADER, TRACE_HEADER } from '../contracts/trace.ts';
import { fastRequest } from './fast-client.ts';
import { createPool, parseReadReply, type ReadOutcome } from './http.ts';

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

export interface ReadEngine {
  /** Read `key` from node `node` (0 = leader); never rejects. */
  read(node: number, key: string, traced: boolean): Promise<TimedRead>;
  /** Reads not sent because of the cap, per node. */
  notSent(): number[];
  /** Wait for every read still in flight to settle, then close the pools. */
  close(): Promise<void>;
}

export interface ReadEngineOptions {
  timeoutMs: number;
  capPerNode: number;
}

const TRACE_HEADERS = { [TRACE_HEADER]: '1' };
/** undici's own timeout, as a multiple of the budget: it frees the connection of a node that never answers. */
const BACKSTOP_FACTOR = 5;

export function createReadEngine(urls: readonly string[], o: ReadEngineOptions): ReadEngine {
  const backstopMs = o.timeoutMs * BACKSTOP_FACTOR;
  const pools: Pool[] = urls.map((url) => createPool(url, { connections: o.capPerNode, timeoutMs: backstopMs }));
  const inFlight = urls.map(() => 0);
  const skipped = urls.map(() => 0);
  const pending = new Set<Promise<unknown>>();

  const read = (node: number, key: string, traced: boolean): Promise<TimedRead> => {
    const sentMs = performance.now();
    if (inFlight[node]! >= o.capPerNode) {
      skipped[node]!++;
      return Promise.resolve({ reply: null, sentMs, receivedMs: sentMs, servedUs: null, notSent: true });
    }
    inFlight[node]!++;
    return new Promise<TimedRead>((resolve) => {
      let settled = false;
      const settle = (r: Omit<TimedRead, 'sentMs' | 'receivedMs' | 'notSent'>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve({ ...r, sentMs, receivedMs: performance.now(), notSent: false });
      };
      // After a stall of this thread's event loop the timers phase runs before the poll phase that
      // would read an answer already waiting on the socket: setImmediate (after poll) lets such an
      // answer win, so the harness's own lateness is not counted as the node's unavailability.
      const deadline = setTimeout(() => setImmediate(() => settle({ reply: null, servedUs: null })), o.timeoutMs);
      const request = fastRequest(pools[node]!, {
        method: 'GET',
        path: `/read?key=${encodeURIComponent(key)}`,
        timeoutMs: backstopMs,
        headers: traced ? TRACE_HEADERS : undefined,
        captureHeader: traced ? SERVED_AT_HEADER : undefined,
      }).then(
        (res) => {
          const served = res.header === null ? NaN : Number(res.header);
          settle({
            reply: parseReadReply(res.status, res.text, key),
            servedUs: Number.isFinite(served) ? served : null,
          });
        },
        // No answer at all (refused, reset, undici's own timeout): unavailable like a silent node.
        () => settle({ reply: null, servedUs: null }),
      );
      const done = request.finally(() => {
        inFlight[node]!--;
        pending.delete(done);
      });
      pending.add(done);
    });
  };

  return {
    read,
    notSent: () => [...skipped],
    async close() {
      await Promise.allSettled([...pending]);
      await Promise.allSettled(pools.map((p) => p.close().catch(() => p.destroy())));
    },
  };
}
