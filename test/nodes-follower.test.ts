import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFollower, type FollowerServer } from '../nodes/follower.ts';
import { VersionedStore } from '../nodes/store.ts';
import { call, SERVERS } from './nodes-helpers.ts';

describe('VersionedStore', () => {
  test('any order of (key, version) messages ends at the highest version per key, never moving back', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 1, max: 30 })), { maxLength: 60 }),
        (msgs) => {
          const store = new VersionedStore();
          const best = new Map<string, number>();
          for (const [key, version] of msgs) {
            const before = store.get(key)?.version ?? 0;
            const applied = store.apply(key, `v${version}`, version);
            expect(applied).toBe(version > before);
            expect(store.get(key)!.version).toBe(Math.max(before, version));
            best.set(key, Math.max(best.get(key) ?? 0, version));
          }
          for (const [key, version] of best) expect(store.get(key)).toEqual({ value: `v${version}`, version });
          expect(store.size).toBe(best.size);
          expect(store.maxVersion).toBe(Math.max(0, ...best.values()));
        },
      ),
    );
  });

  test('a key named __proto__ is ordinary data', () => {
    const store = new VersionedStore();
    store.apply('__proto__', 1, 1);
    expect(JSON.parse(JSON.stringify(store.toJSON()))).toEqual(JSON.parse('{"__proto__":{"value":1,"version":1}}'));
  });
});

describe.each(SERVERS)('$name server', ({ createListener }) => {
  describe('follower over HTTP', () => {
    let follower: FollowerServer;
    let url: string;
    beforeAll(async () => {
      follower = createFollower({ createListener, leaderUrl: 'http://127.0.0.1:8000' });
      ({ url } = await follower.listen(0));
    });
    afterAll(() => follower.close());

    const replicate = (key: string, version: number, value: unknown = `v${version}`) =>
      call(`${url}/replicate`, 'POST', { key, value, version });

    test('out-of-order and duplicate messages are acked but never move a key backwards', async () => {
      const sequence: Array<[number, boolean]> = [
        [5, true],
        [3, false],
        [5, false],
        [7, true],
        [6, false],
        [7, false],
        [8, true],
      ];
      let highest = 0;
      for (const [version, applied] of sequence) {
        const res = await replicate('ooo', version);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ status: 'success', applied });
        highest = Math.max(highest, version);
        expect((await call(`${url}/read?key=ooo`)).body).toEqual({
          key: 'ooo',
          value: `v${highest}`,
          version: highest,
        });
      }
      expect((await call(`${url}/read?key=ooo`)).body).toEqual({ key: 'ooo', value: 'v8', version: 8 });
    });

    test('concurrent replicate messages in random order converge to the highest version', async () => {
      const versions = fc.sample(
        fc.shuffledSubarray(
          Array.from({ length: 60 }, (_, i) => i + 100),
          { minLength: 60 },
        ),
        { numRuns: 1, seed: 42 },
      )[0]!;
      await Promise.all(versions.map((v) => replicate('race', v, { n: v })));
      expect((await call(`${url}/read?key=race`)).body).toEqual({ key: 'race', value: { n: 159 }, version: 159 });
    });

    test('null and structured values are stored as given', async () => {
      await replicate('nul', 1, null);
      await replicate('obj', 2, { a: [1, 'x', { b: true }] });
      expect((await call(`${url}/read?key=nul`)).body).toEqual({ key: 'nul', value: null, version: 1 });
      expect((await call(`${url}/read?key=obj`)).body.value).toEqual({ a: [1, 'x', { b: true }] });
      expect((await call(`${url}/read?key=${encodeURIComponent('sp ace/é')}`)).status).toBe(404);
      await replicate('sp ace/é', 3);
      expect((await call(`${url}/read?key=${encodeURIComponent('sp ace/é')}`)).body.version).toBe(3);
    });

    test('read of a missing key is 404 not_found with the key', async () => {
      const res = await call(`${url}/read?key=missing`);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ error: 'not_found', key: 'missing' });
    });

    test('writes are refused: 403 read_only naming the leader', async () => {
      const res = await call(`${url}/write`, 'POST', { key: 'k', value: 1 });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({
        error: 'read_only',
        message: 'writes go to the leader',
        leader: 'http://127.0.0.1:8000',
      });
      expect(follower.store.get('k')).toBeUndefined();
    });

    test('health, data and stats', async () => {
      expect((await call(`${url}/health`)).body).toEqual({ status: 'ok', role: 'follower', bootId: follower.bootId });
      expect(follower.bootId).toMatch(/^[0-9a-f-]{36}$/);
      const data = (await call(`${url}/data`)).body;
      expect(data.ooo).toEqual({ value: 'v8', version: 8 });
      const stats = (await call(`${url}/stats`)).body;
      expect(stats).toMatchObject({ role: 'follower', keys: Object.keys(data).length, maxVersion: 159 });
      expect(stats.applied + stats.ignored).toBeGreaterThan(0);
      expect((await call(`${url}/stats/reset`, 'POST')).status).toBe(200);
      expect((await call(`${url}/stats`)).body).toMatchObject({
        applied: 0,
        ignored: 0,
        keys: Object.keys(data).length,
      });
    });

    test('the Express app serves the same routes', async () => {
      const { default: http } = await import('node:http');
      const server = http.createServer(follower.app);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      try {
        expect((await call(`http://127.0.0.1:${port}/read?key=ooo`)).body.version).toBe(8);
        expect((await call(`http://127.0.0.1:${port}/nope`)).body.error).toBe('unknown_route');
      } finally {
        await new Promise((r) => server.close(r));
      }
    });
  });

  describe('batched and single /replicate keep the newer-version rule', () => {
    let follower: FollowerServer;
    let url: string;
    beforeAll(async () => {
      follower = createFollower({ createListener });
      ({ url } = await follower.listen(0));
    });
    afterAll(() => follower.close());

    type Msg = [key: string, version: number];
    const batch = (msgs: Msg[]) =>
      call(`${url}/replicate/batch`, 'POST', {
        entries: msgs.map(([key, version]) => ({ key, value: `v${version}`, version })),
      });

    test('a batch with duplicates and reordering applies only what is newer, per entry, and says how many', async () => {
      const res = await batch([
        ['b', 5],
        ['b', 3],
        ['c', 1],
        ['b', 5],
        ['b', 7],
        ['c', 1],
      ]);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'success', applied: 3, ignored: 3 });
      expect(res.headers['x-boot-id']).toBe(follower.bootId);
      expect(follower.store.get('b')).toEqual({ value: 'v7', version: 7 });
      expect((await batch([['b', 6]])).body).toEqual({ status: 'success', applied: 0, ignored: 1 });
      expect(follower.store.get('b')!.version).toBe(7);
    });

    test('any interleaving of single and batched messages, duplicated and shuffled, ends at the highest version per key', async () => {
      const msgs: Msg[] = fc.sample(
        fc.array(fc.tuple(fc.constantFrom('r1', 'r2', 'r3'), fc.integer({ min: 1, max: 40 })), {
          minLength: 20,
          maxLength: 40,
        }),
        { numRuns: 1, seed: 7 },
      )[0]!;
      const all = [...msgs, ...msgs.slice(0, 10)]; // duplicates
      const requests: Promise<unknown>[] = [];
      for (let i = 0; i < all.length; ) {
        const take = (i % 3) + 1;
        const part = all.slice(i, i + take);
        requests.push(
          part.length === 1
            ? call(`${url}/replicate`, 'POST', { key: part[0]![0], value: `v${part[0]![1]}`, version: part[0]![1] })
            : batch(part),
        );
        i += take;
      }
      await Promise.all(requests);
      const best = new Map<string, number>();
      for (const [k, v] of all) best.set(k, Math.max(best.get(k) ?? 0, v));
      for (const [k, v] of best) expect(follower.store.get(k)).toEqual({ value: `v${v}`, version: v });
    });

    test('a bad entry is refused with its index and nothing of the batch is applied', async () => {
      const res = await call(`${url}/replicate/batch`, 'POST', {
        entries: [
          { key: 'untouched', value: 1, version: 900 },
          { key: 'x', value: 1, version: 0 },
        ],
      });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'invalid_version', index: 1 });
      expect(res.body.message).toMatch(/^entries\[1\]/);
      expect(follower.store.get('untouched')).toBeUndefined();
      expect((await call(`${url}/replicate/batch`, 'POST', [])).body.error).toBe('invalid_body');
    });

    test('batches are counted in /stats', async () => {
      const stats = (await call(`${url}/stats`)).body;
      expect(stats.batches).toBeGreaterThanOrEqual(3);
    });
  });
});
