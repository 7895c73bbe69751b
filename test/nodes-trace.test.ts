import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SERVED_AT_HEADER, TRACE_HEADER, monotonicUs, type TraceDump } from '../contracts/trace.ts';
import { createFollower, type FollowerServer } from '../nodes/follower.ts';
import { TraceRing } from '../nodes/trace-ring.ts';
import { call } from './nodes-helpers.ts';

describe('TraceRing', () => {
  test('keeps the newest records oldest first and counts what it overwrote', () => {
    const ring = new TraceRing<number>(3);
    for (let i = 1; i <= 5; i++) ring.push(i);
    expect(ring.snapshot()).toEqual([3, 4, 5]);
    expect(ring.dropped).toBe(2);
    expect(ring.length).toBe(3);
    ring.clear();
    expect(ring.snapshot()).toEqual([]);
    expect(ring.dropped).toBe(0);
    ring.push(9);
    expect(ring.snapshot()).toEqual([9]);
  });

  test('a snapshot is a copy', () => {
    const ring = new TraceRing<number>(2);
    ring.push(1);
    const snap = ring.snapshot();
    ring.push(2);
    expect(snap).toEqual([1]);
  });

  test('a capacity below 1 is refused with a code', () => {
    expect(() => new TraceRing(0)).toThrow(expect.objectContaining({ code: 'invalid_trace_capacity' }));
  });
});

describe('follower trace recording', () => {
  let follower: FollowerServer;
  let url: string;
  beforeAll(async () => {
    follower = createFollower({ traceCapacity: 2 });
    ({ url } = await follower.listen(0));
  });
  afterAll(() => follower.close());

  const dump = async () => (await call(`${url}/trace`)).body as TraceDump;

  test('only traced /replicate messages are recorded, with arrival before apply, on this process clock', async () => {
    const before = monotonicUs();
    await call(`${url}/replicate`, 'POST', { key: 'k', value: 1, version: 1 });
    await call(`${url}/replicate`, 'POST', { key: 'k', value: 2, version: 2 }, { headers: { [TRACE_HEADER]: '1' } });
    await call(`${url}/replicate`, 'POST', { key: 'k', value: 1, version: 1 }, { headers: { [TRACE_HEADER]: '1' } });
    const d = await dump();
    expect(d.role).toBe('follower');
    expect(d.bootId).toBe(follower.bootId);
    expect(d.capacity).toBe(2);
    expect(d.nowUs).toBeGreaterThanOrEqual(before);
    expect(d.applies!.map((a) => [a.key, a.version, a.applied])).toEqual([
      ['k', 2, true],
      ['k', 1, false],
    ]);
    for (const a of d.applies!) {
      expect(a.receivedUs).toBeGreaterThanOrEqual(before);
      expect(a.appliedUs).toBeGreaterThanOrEqual(a.receivedUs);
    }
  });

  test('a full ring reports dropped records, and /stats/reset clears it', async () => {
    await call(`${url}/replicate`, 'POST', { key: 'k', value: 3, version: 3 }, { headers: { [TRACE_HEADER]: '1' } });
    expect((await dump()).dropped).toBe(1);
    await call(`${url}/stats/reset`, 'POST');
    const d = await dump();
    expect(d.applies).toEqual([]);
    expect(d.dropped).toBe(0);
  });

  test('a traced read carries its served-at µs; an untraced one does not', async () => {
    const before = monotonicUs();
    const traced = await call(`${url}/read?key=k`, 'GET', undefined, { headers: { [TRACE_HEADER]: '1' } });
    const servedUs = Number(traced.headers[SERVED_AT_HEADER]);
    expect(servedUs).toBeGreaterThanOrEqual(before);
    expect(servedUs).toBeLessThanOrEqual(monotonicUs());
    const plain = await call(`${url}/read?key=k`);
    expect(plain.headers[SERVED_AT_HEADER]).toBeUndefined();
    const missing = await call(`${url}/read?key=nope`, 'GET', undefined, { headers: { [TRACE_HEADER]: '1' } });
    expect(missing.status).toBe(404);
    expect(missing.headers[SERVED_AT_HEADER]).toBeDefined();
  });
});

describe('TRACE_CAPACITY', () => {
  test('sets the ring size of either role; anything but a positive integer is refused', async () => {
    const { parseNodeEnv } = await import('../nodes/config.ts');
    expect(parseNodeEnv({ ROLE: 'follower', TRACE_CAPACITY: '5' })).toMatchObject({ traceCapacity: 5 });
    expect(parseNodeEnv({ ROLE: 'leader', FOLLOWERS: 'http://127.0.0.1:9001', TRACE_CAPACITY: '7' })).toMatchObject({
      traceCapacity: 7,
    });
    expect(parseNodeEnv({ ROLE: 'follower' })).not.toHaveProperty('traceCapacity');
    for (const bad of ['0', '-1', '1.5', 'lots']) {
      expect(() => parseNodeEnv({ ROLE: 'follower', TRACE_CAPACITY: bad })).toThrow(
        /TRACE_CAPACITY: must be a positive integer/,
      );
    }
  });
});
