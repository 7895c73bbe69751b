import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runClients, type ClientTask } from '../harness/client.ts';
import { decodeHistogram, histogramStats, type Histogram } from '../harness/histogram.ts';

/** Share of recorded values >= v, found by bisecting the percentile (the histogram has no count-above query). */
function shareAtLeast(h: Histogram, v: number): number {
  if (h.totalCount === 0 || h.getValueAtPercentile(100) < v) return 0;
  let lo = 0;
  let hi = 100;
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (h.getValueAtPercentile(mid) >= v) hi = mid;
    else lo = mid;
  }
  return (100 - hi) / 100;
}

/** A leader stand-in that answers writes at once, except that it stalls for STALL_MS once. */
const STALL_MS = 200;
const WRITES = 1500;
const STALL_AT = 300;

let server: Server;
let url: string;
let writes = 0;
let stalledUntil = 0;
let stallArmed = true;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      writes++;
      if (stallArmed && writes === STALL_AT) stalledUntil = Date.now() + STALL_MS;
      const reply = (): void => {
        const body = JSON.stringify({ status: 'success', version: writes });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        res.end(body);
      };
      const left = stalledUntil - Date.now();
      if (left > 0) setTimeout(reply, left);
      else reply();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function task(rate: number | null): ClientTask {
  return {
    thread: 0,
    clientIds: [0, 1, 2, 3],
    totalClients: 4,
    leaderUrl: url,
    followerUrls: [],
    workload: { seed: 1, keys: 10, valueBytes: 8, readback: 0, visibility: 0 },
    writes: WRITES,
    warmup: 0,
    rate,
    // An upper bound only: on a starved machine the writes queued behind the stall were seen to take
    // over 5 s (open.ok 1308 of 1500), and request timeouts are not what these tests check.
    requestTimeoutMs: 30_000,
    visibilityOffsetsUs: [],
    progressIntervalMs: 0,
    progressHistogram: false,
  };
}

describe('coordinated omission', () => {
  test('a single stall inflates the open-loop tail far beyond the closed-loop tail', async () => {
    writes = 0;
    const closed = await runClients(task(null));
    writes = 0;
    const open = await runClients(task(2000));
    const c = histogramStats(decodeHistogram(closed.latency));
    const o = histogramStats(decodeHistogram(open.latency));
    expect(closed.ok).toBe(WRITES);
    expect(open.ok).toBe(WRITES);
    // Both saw the stall...
    expect(c.max).toBeGreaterThan(STALL_MS * 1000 * 0.7);
    expect(o.max).toBeGreaterThan(STALL_MS * 1000 * 0.7);
    // ...but only 4 closed-loop writes (0.3 %) waited through it, while every write due during it
    // (~400 of 1500) counts in open loop. Compared as shares of writes slower than half the stall:
    // percentiles of the closed loop alone follow the machine's load (p99 60-100 ms at load 8).
    const slow = STALL_MS * 1000 * 0.5;
    const openSlow = shareAtLeast(decodeHistogram(open.latency), slow);
    const closedSlow = shareAtLeast(decodeHistogram(closed.latency), slow);
    expect(o.p99).toBeGreaterThan(slow);
    expect(openSlow).toBeGreaterThan(0.05);
    expect(openSlow).toBeGreaterThan(closedSlow * 5);
    // The open-loop run kept to its schedule apart from the stall.
    expect(open.elapsedMs).toBeGreaterThan((WRITES / 2000) * 1000 * 0.9);
  });

  test('open loop sends on schedule: the harness send lag stays small when the server keeps up', async () => {
    stallArmed = false;
    writes = 0;
    // 500 writes/s: the server shares this process, and at 1000/s a starved test process (load average
    // 15+) could not keep up, so its lag grew with the run (p50 436 ms) whatever the harness did.
    const [ratePerSec, count] = [500, 300];
    const open = await runClients({ ...task(ratePerSec), writes: count });
    const lag = histogramStats(decodeHistogram(open.sendLag));
    expect(lag.count).toBe(count);
    // Relation, not a number: the median send lag must be small against the span of the schedule
    // (600 ms), or the schedule (and so the coordinated-omission correction) would be meaningless; a
    // scheduler that drifts accumulates lag, putting the median near half the run. Exact figures are
    // a benchmark's business: idle, p50 is tens of µs, but at load average 9-11 on two cores single
    // runs showed 8-30 ms at 1000 writes/s.
    const spanUs = (count / ratePerSec) * 1e6;
    expect(lag.p50).toBeLessThan(spanUs / 6);
  });
});
