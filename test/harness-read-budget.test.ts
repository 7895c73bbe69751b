/**
 * Issue 12: a paused follower must not stall the load. An in-process leader answers every write at
 * once; follower2 stops answering for PAUSE_MS (its sockets still accept, as under SIGSTOP) and
 * answers everything it held when it resumes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runClients, SHARED_SLOTS, type ClientTask } from '../harness/client.ts';
import { publishFaultCount } from '../harness/fault-window.ts';
import { SERVED_AT_HEADER, TRACE_HEADER, monotonicUs } from '../contracts/trace.ts';

const PAUSE_MS = 2000;
const PAUSED = 2;
const READ_TIMEOUT_MS = 300;

let version = 0;
let paused = false;
let writesWhilePaused = 0;
const held: (() => void)[] = [];
/** Arrival times (ms) of the reads follower2 held, and how many were held past the harness's budget. */
const heldSince: number[] = [];
let heldPastBudget = 0;
const traced = { writes: 0, reads: 0 };
const servers: Server[] = [];
let leaderUrl = '';
const followerUrls: string[] = [];

function reply(res: ServerResponse, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function follower(n: number) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    const answer = (): void => {
      const isTraced = req.headers[TRACE_HEADER] === '1';
      if (isTraced) traced.reads++;
      reply(res, { key: 'k', value: 'v', version }, isTraced ? { [SERVED_AT_HEADER]: String(monotonicUs()) } : {});
    };
    if (paused && n === PAUSED) {
      held.push(answer);
      heldSince.push(performance.now());
    } else answer();
  };
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  leaderUrl = await listen((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/write') {
        if (paused) writesWhilePaused++;
        if (req.headers[TRACE_HEADER] === '1') traced.writes++;
        reply(res, { status: 'success', version: ++version });
      } else reply(res, { key: 'k', value: 'v', version });
    });
  });
  for (let n = 1; n <= 3; n++) followerUrls.push(await listen(follower(n)));
});

afterAll(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

function task(rate: number | null, writes: number, shared: SharedArrayBuffer, trace = 0): ClientTask {
  return {
    thread: 0,
    clientIds: [0, 1, 2, 3],
    totalClients: 4,
    leaderUrl,
    followerUrls,
    workload: { seed: 7, keys: 50, valueBytes: 8, readback: 1, visibility: 0, trace },
    writes,
    warmup: 0,
    rate,
    requestTimeoutMs: 10_000,
    readTimeoutMs: READ_TIMEOUT_MS,
    traceCapacity: 100_000,
    visibilityOffsetsUs: [],
    progressIntervalMs: 0,
    progressHistogram: false,
    shared,
  };
}

/** Pause follower2 from `atMs` for PAUSE_MS, flagging the fault window as the fault schedule does; resolves with how long it really lasted, ms. */
function schedulePause(shared: SharedArrayBuffer, atMs: number): Promise<number> {
  const slots = new Int32Array(shared);
  return new Promise((resolve) => {
    setTimeout(() => {
      paused = true;
      const from = monotonicUs();
      publishFaultCount(slots, 1, from);
      setTimeout(() => {
        paused = false;
        const to = monotonicUs();
        publishFaultCount(slots, 0, to);
        const now = performance.now();
        // Margin: the harness's deadline timer may itself fire a little late on a busy machine.
        heldPastBudget = heldSince.splice(0).filter((t) => now - t > READ_TIMEOUT_MS + 100).length;
        for (const answer of held.splice(0)) answer();
        resolve((to - from) / 1000);
      }, PAUSE_MS);
    }, atMs);
  });
}

describe('a paused follower does not stall the load', () => {
  test("open loop: writes keep the schedule through the pause, the paused follower's reads are unavailable", async () => {
    const rate = 200;
    const shared = new SharedArrayBuffer(SHARED_SLOTS * 4);
    writesWhilePaused = 0;
    const pause = schedulePause(shared, 500);
    const r = await runClients(task(rate, 700, shared, 0.5));
    const pausedMs = await pause;
    const fault = r.windows.fault;
    // A busy machine may fire the resume late: the schedule is judged over the pause as it happened.
    const due = (rate * pausedMs) / 1000;
    // The schedule called for `due` writes during the pause; the leader got them while follower2 was stopped.
    expect(fault.intended).toBeGreaterThan(due * 0.95);
    expect(fault.intended).toBeLessThan(due * 1.05);
    // The leader's own count depends on this process keeping up (server and clients share its event
    // loop): on a quiet machine it is ~100 % of `due`, on a starved one far less (15 seen at load
    // average 17); writes waiting on follower2 (the bug of issue 12) would let at most one write per
    // client through, so twice that is the bound.
    expect(writesWhilePaused).toBeGreaterThan(2 * 4);
    expect(r.windows.all.intended).toBe(700);
    expect(r.ok).toBe(700);
    // Every read-back of follower2 due during the pause went unanswered; the other replicas answered.
    const [leader, f1, f2, f3] = r.replicas;
    // Every read follower2 held past the budget is unavailable; reads it got in the pause's last
    // READ_TIMEOUT_MS are answered at the resume, within their budget.
    expect(heldPastBudget).toBeGreaterThan(0);
    expect(f2!.unavailable).toBeGreaterThanOrEqual(heldPastBudget);
    expect(f2!.unavailable).toBeLessThanOrEqual(r.ok);
    // The others answer. Only on a quiet machine is that all of their reads: on a starved one (this
    // process runs the servers too) writes due during a stall leave in a burst and reads queue behind them.
    for (const other of [leader!, f1!, f3!]) expect(other.reads + other.unavailable).toBe(700);
    for (const other of [f1!, f3!]) expect(other.reads).toBeGreaterThan(f2!.reads);
    expect(fault.readsUnavailable).toBeGreaterThan(0);
    expect(r.incompleteReadbacks).toBeGreaterThanOrEqual(f2!.unavailable);
    // Traced writes carry the header to the leader and on their read-backs, and come back with every read.
    expect(traced.writes).toBe(r.traces.length);
    expect(r.traces.length).toBeGreaterThan(250);
    const t = r.traces.find((x) =>
      x.reads.some((rd) => rd.replica === `follower${PAUSED}` && rd.outcome === 'unavailable'),
    )!;
    expect(t.reads).toHaveLength(4);
    expect(t.reads.find((rd) => rd.replica === `follower${PAUSED}`)!.version).toBeNull();
    const answered = r.traces
      .flatMap((x) => x.reads)
      .find((rd) => rd.replica === 'follower1' && rd.outcome !== 'unavailable')!;
    expect(answered.outcome).toBe('fresh');
    expect(answered.servedUs).toBeGreaterThanOrEqual(answered.sentUs);
    expect(answered.receivedUs).toBeGreaterThanOrEqual(answered.servedUs!);
    expect(t.sentUs).toBeGreaterThanOrEqual(t.intendedUs - 1);
    expect(t.receivedUs).toBeGreaterThan(t.sentUs);
  });

  test('closed loop: clients keep writing through the pause', async () => {
    const shared = new SharedArrayBuffer(SHARED_SLOTS * 4);
    writesWhilePaused = 0;
    const pause = schedulePause(shared, 200);
    // Stop once the pause is over: a closed loop has no schedule, so run until then.
    const port = new MessageChannel();
    void pause.then(() => port.port1.postMessage({ cmd: 'stop' }));
    port.port1.postMessage({ cmd: 'go' });
    const r = await runClients(
      task(null, 1_000_000, shared),
      port.port2 as unknown as import('node:worker_threads').MessagePort,
    );
    port.port1.close();
    // Waiting on follower2's 300 ms read budget per write would allow at most 4 clients x 2 s / 0.3 s = 27.
    expect(writesWhilePaused).toBeGreaterThan(40);
    expect(r.windows.fault.ok).toBeGreaterThan(40);
    expect(r.replicas[PAUSED]!.unavailable).toBeGreaterThan(0);
    expect(r.stopped).toBe(true);
  });
});
