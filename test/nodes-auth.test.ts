import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFollower, type FollowerServer } from '../nodes/follower.ts';
import { createLeader, type LeaderServer } from '../nodes/leader.ts';
import { call, until, SERVERS } from './nodes-helpers.ts';

const TOKEN = 's3cret-token';
const good = { authorization: `Bearer ${TOKEN}` };

describe.each(SERVERS)('$name server', ({ createListener }) => {
  describe('REPLICATION_TOKEN', () => {
    let followers: FollowerServer[];
    let urls: string[];
    let leader: LeaderServer;
    let url: string;
    beforeAll(async () => {
      followers = [0, 1].map(() => createFollower({ createListener, replicationToken: TOKEN }));
      urls = (await Promise.all(followers.map((f) => f.listen(0)))).map((l) => l.url);
      leader = createLeader({ createListener, followers: urls, writeQuorum: 2, replicationToken: TOKEN });
      ({ url } = await leader.listen(0));
    });
    afterAll(async () => {
      await leader.close();
      await Promise.all(followers.map((f) => f.close()));
    });

    test.each([
      ['no header', {}],
      ['wrong token', { authorization: 'Bearer nope' }],
      ['right token, wrong scheme', { authorization: `Basic ${TOKEN}` }],
      ['token with a suffix', { authorization: `Bearer ${TOKEN}x` }],
    ])(
      'follower refuses /replicate, /snapshot and /stats/reset with %s: 401 JSON, nothing applied',
      async (_name, headers) => {
        const f = urls[0]!;
        const cases: Array<[string, unknown]> = [
          ['/replicate', { key: 'x', value: 1, version: 99 }],
          ['/snapshot', { entries: [{ key: 'x', value: 1, version: 99 }] }],
          ['/stats/reset', undefined],
        ];
        for (const [path, body] of cases) {
          const res = await call(`${f}${path}`, 'POST', body, { headers });
          expect(res.status, path).toBe(401);
          expect(res.body).toMatchObject({ error: 'unauthorized', message: expect.any(String) });
          expect(res.headers['www-authenticate']).toBe('Bearer');
        }
        expect(followers[0]!.store.get('x')).toBeUndefined();
      },
    );

    test('reads, health and stats stay open; the token opens the internal endpoints', async () => {
      const f = urls[1]!;
      for (const path of ['/health', '/stats', '/data']) expect((await call(`${f}${path}`)).status).toBe(200);
      expect((await call(`${f}/read?key=nope`)).status).toBe(404);
      expect(
        (await call(`${f}/replicate`, 'POST', { key: 'direct', value: 1, version: 1 }, { headers: good })).body,
      ).toEqual({
        status: 'success',
        applied: true,
      });
      expect((await call(`${f}/stats/reset`, 'POST', undefined, { headers: good })).status).toBe(200);
    });

    test('the leader replicates with the token; its admin endpoints need it, /write does not', async () => {
      const w = await call(`${url}/write`, 'POST', { key: 'k', value: 'v' });
      expect(w.body).toMatchObject({ status: 'success', acks: 2 });
      await until(async () => (await call(`${url}/stats`)).body.replication.pending === 0, 'replicated');
      for (const f of followers) expect(f.store.get('k')).toEqual({ value: 'v', version: w.body.version });

      expect((await call(`${url}/config`, 'PUT', { writeQuorum: 1 })).status).toBe(401);
      expect((await call(`${url}/stats/reset`, 'POST')).status).toBe(401);
      expect(leader.writeQuorum).toBe(2);
      expect((await call(`${url}/config`, 'PUT', { writeQuorum: 1 }, { headers: good })).body).toEqual({ quorum: 1 });
      expect((await call(`${url}/stats/reset`, 'POST', undefined, { headers: good })).status).toBe(200);
      for (const path of ['/config', '/stats', '/health', '/data'])
        expect((await call(`${url}${path}`)).status).toBe(200);
      await call(`${url}/config`, 'PUT', { writeQuorum: 2 }, { headers: good });
    });

    test('a leader with the wrong token: followers refuse it, it marks them down and answers 503', async () => {
      const wrong = createLeader({
        createListener,
        followers: urls,
        writeQuorum: 1,
        replicationToken: 'other',
        probeIntervalMs: 0,
      });
      const { url: wurl } = await wrong.listen(0);
      try {
        const res = await call(`${wurl}/write`, 'POST', { key: 'w', value: 1 });
        expect(res.status).toBe(503);
        const s = (await call(`${wurl}/stats`)).body;
        expect(s.followers.map((f: { lastError: string }) => f.lastError)).toEqual([
          '/replicate answered 401',
          '/replicate answered 401',
        ]);
        for (const f of followers) expect(f.store.get('w')).toBeUndefined();
      } finally {
        await wrong.close();
      }
    });

    test('without a token every endpoint is open (the default)', async () => {
      const f = createFollower({ createListener });
      const { url: open } = await f.listen(0);
      try {
        expect((await call(`${open}/replicate`, 'POST', { key: 'a', value: 1, version: 1 })).status).toBe(200);
        expect((await call(`${open}/stats/reset`, 'POST')).status).toBe(200);
      } finally {
        await f.close();
      }
    });

    test('an unusable token is refused at construction', () => {
      expect(() => createFollower({ createListener, replicationToken: 'has space' })).toThrow(/printable ASCII/);
      expect(() => createLeader({ createListener, followers: urls, replicationToken: '' })).toThrow(/printable ASCII/);
    });
  });
});
