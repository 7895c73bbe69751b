import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFollower, type FollowerServer } from '../nodes/follower.ts';
import { createLeader, type LeaderServer } from '../nodes/leader.ts';
import { call, createStandIn, type StandIn, SERVERS } from './nodes-helpers.ts';

const LIMIT = 1024 * 1024;
const REPLICATION_LIMIT = 4 * 1024 * 1024;
const oversized = JSON.stringify({ key: 'big', value: 'x'.repeat(LIMIT), version: 1 });
const oversizedReplication = JSON.stringify({ key: 'big', value: 'x'.repeat(REPLICATION_LIMIT), version: 1 });

/** [method, path, raw body (undefined = none), expected status, expected error code] */
type Case = [string, string, string | Buffer | undefined, number, string];

const leaderCases: Case[] = [
  ['POST', '/write', '{bad', 400, 'invalid_json'],
  ['POST', '/write', '', 400, 'invalid_json'],
  ['POST', '/write', '{"key":"k","value":1', 400, 'invalid_json'],
  ['POST', '/write', '[1,2]', 400, 'invalid_body'],
  ['POST', '/write', 'null', 400, 'invalid_body'],
  ['POST', '/write', '"text"', 400, 'invalid_body'],
  ['POST', '/write', '{"value":1}', 400, 'invalid_key'],
  ['POST', '/write', '{"key":"","value":1}', 400, 'invalid_key'],
  ['POST', '/write', '{"key":5,"value":1}', 400, 'invalid_key'],
  ['POST', '/write', '{"key":null,"value":1}', 400, 'invalid_key'],
  ['POST', '/write', '{"key":["k"],"value":1}', 400, 'invalid_key'],
  ['POST', '/write', '{"key":"k"}', 400, 'missing_value'],
  ['POST', '/write', oversized, 413, 'payload_too_large'],
  // Deep enough to overflow JSON.stringify's stack (about 5,000 levels) if it were accepted.
  ['POST', '/write', `{"key":"k","value":${'['.repeat(100_000)}${']'.repeat(100_000)}}`, 400, 'invalid_value'],
  [
    'POST',
    '/write',
    Buffer.from([
      0x7b, 0x22, 0x6b, 0x65, 0x79, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x2c, 0x22, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x22, 0x3a,
      0x31, 0x7d,
    ]),
    400,
    'invalid_json',
  ],
  ['GET', '/write', undefined, 405, 'method_not_allowed'],
  ['PUT', '/write', '{"key":"k","value":1}', 405, 'method_not_allowed'],
  ['GET', '/nope', undefined, 404, 'unknown_route'],
  ['POST', '/replicate', '{"key":"k","value":1,"version":9}', 404, 'unknown_route'],
  ['GET', '/read', undefined, 400, 'invalid_key'],
  ['GET', '/read?key=', undefined, 400, 'invalid_key'],
  ['GET', '/read?key=a&key=b', undefined, 400, 'invalid_key'],
  ['POST', '/read?key=a', '{}', 405, 'method_not_allowed'],
  ['DELETE', '/data', undefined, 405, 'method_not_allowed'],
  ['GET', '/stats/reset', undefined, 405, 'method_not_allowed'],
  ['PUT', '/config', '{"writeQuorum":0}', 400, 'invalid_quorum'],
  ['PUT', '/config', '{"writeQuorum":3}', 400, 'invalid_quorum'],
  ['PUT', '/config', '{"writeQuorum":1.5}', 400, 'invalid_quorum'],
  ['PUT', '/config', '{"writeQuorum":"1"}', 400, 'invalid_quorum'],
  ['PUT', '/config', '{}', 400, 'invalid_quorum'],
  ['PUT', '/config', '[]', 400, 'invalid_body'],
  ['PUT', '/config', '{bad', 400, 'invalid_json'],
];

const followerCases: Case[] = [
  ['POST', '/replicate', '{bad', 400, 'invalid_json'],
  ['POST', '/replicate', '', 400, 'invalid_json'],
  ['POST', '/replicate', '[]', 400, 'invalid_body'],
  ['POST', '/replicate', '{"value":1,"version":1}', 400, 'invalid_key'],
  ['POST', '/replicate', '{"key":"","value":1,"version":1}', 400, 'invalid_key'],
  ['POST', '/replicate', '{"key":1,"value":1,"version":1}', 400, 'invalid_key'],
  ['POST', '/replicate', '{"key":"k","version":1}', 400, 'missing_value'],
  ['POST', '/replicate', '{"key":"k","value":1}', 400, 'invalid_version'],
  ['POST', '/replicate', '{"key":"k","value":1,"version":0}', 400, 'invalid_version'],
  ['POST', '/replicate', '{"key":"k","value":1,"version":-1}', 400, 'invalid_version'],
  ['POST', '/replicate', '{"key":"k","value":1,"version":1.5}', 400, 'invalid_version'],
  ['POST', '/replicate', '{"key":"k","value":1,"version":"2"}', 400, 'invalid_version'],
  ['POST', '/replicate', '{"key":"k","value":1,"version":null}', 400, 'invalid_version'],
  ['POST', '/replicate', '{"key":"k","value":1,"version":1e300}', 400, 'invalid_version'],
  ['POST', '/replicate', oversizedReplication, 413, 'payload_too_large'],
  [
    'POST',
    '/snapshot',
    `{"entries":[{"key":"big","value":"${'x'.repeat(REPLICATION_LIMIT + 2048)}","version":1}]}`,
    413,
    'payload_too_large',
  ],
  ['POST', '/snapshot', '{"entries":{}}', 400, 'invalid_body'],
  [
    'POST',
    '/snapshot',
    '{"entries":[{"key":"a","value":1,"version":1},{"key":"b","value":1,"version":0}]}',
    400,
    'invalid_version',
  ],
  ['POST', '/replicate', `{"key":"k","value":${'['.repeat(300)}${']'.repeat(300)},"version":1}`, 400, 'invalid_value'],
  ['GET', '/replicate', undefined, 405, 'method_not_allowed'],
  ['POST', '/write', '{"key":"k","value":1}', 403, 'read_only'],
  ['GET', '/read', undefined, 400, 'invalid_key'],
  ['GET', '/read?key=', undefined, 400, 'invalid_key'],
  ['GET', '/nope', undefined, 404, 'unknown_route'],
  ['PUT', '/config', '{"writeQuorum":1}', 404, 'unknown_route'],
  ['POST', '/health', undefined, 405, 'method_not_allowed'],
];

async function expectError(base: string, [method, path, body, status, code]: Case): Promise<void> {
  const res = await call(`${base}${path}`, method, body, { raw: true });
  expect(res.status, `${method} ${path}`).toBe(status);
  expect(res.body.error, `${method} ${path}`).toBe(code);
  expect(typeof res.body.message).toBe('string');
  expect(String(res.headers['content-type'])).toMatch(/application\/json/);
}

describe.each(SERVERS)('$name server', ({ createListener }) => {
  describe('bad input on the leader changes nothing', () => {
    let standIns: StandIn[];
    let leader: LeaderServer;
    let url: string;
    beforeAll(async () => {
      standIns = await Promise.all([createStandIn({ autoAck: true }), createStandIn({ autoAck: true })]);
      leader = createLeader({ createListener, followers: standIns.map((s) => s.url), writeQuorum: 2 });
      ({ url } = await leader.listen(0));
    });
    afterAll(async () => {
      await leader.close();
      await Promise.all(standIns.map((s) => s.close()));
    });

    test.each(leaderCases.map((c) => [`${c[0]} ${c[1]} ${c[2]?.toString().slice(0, 30) ?? ''}`, c] as const))(
      '%s',
      async (_name, c) => {
        await expectError(url, c);
      },
    );

    test('an oversized body sent chunked (no content-length) is refused too', async () => {
      async function* chunks() {
        for (let i = 0; i < 20; i++) yield Buffer.alloc(64 * 1024, 0x20);
      }
      const { request } = await import('undici');
      const { Readable } = await import('node:stream');
      const res = await request(`${url}/write`, { method: 'POST', body: Readable.from(chunks()) });
      expect(res.statusCode).toBe(413);
      expect(((await res.body.json()) as { error: string }).error).toBe('payload_too_large');
    });

    test('afterwards: no version consumed, nothing stored or replicated, still serving', async () => {
      const stats = (await call(`${url}/stats`)).body;
      expect(stats.version).toBe(0);
      expect(stats.quorum).toBe(2);
      expect(stats.writes.ok + stats.writes.failed).toBe(0);
      expect(stats.writes.rejected).toBe(leaderCases.filter((c) => c[1] === '/write' && c[3] !== 405).length + 1);
      expect(stats.replication.sent).toBe(0);
      expect(stats.replication.pending).toBe(0);
      expect((await call(`${url}/data`)).body).toEqual({});
      expect(standIns.map((s) => s.received.length)).toEqual([0, 0]);

      const ok = await call(`${url}/write`, 'POST', { key: 'k', value: null });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ version: 1, value: null, acks: 2 });
    });
  });

  describe('bad input on a follower changes nothing', () => {
    let follower: FollowerServer;
    let url: string;
    beforeAll(async () => {
      follower = createFollower({ createListener });
      ({ url } = await follower.listen(0));
    });
    afterAll(() => follower.close());

    test.each(followerCases.map((c) => [`${c[0]} ${c[1]} ${c[2]?.toString().slice(0, 40) ?? ''}`, c] as const))(
      '%s',
      async (_name, c) => {
        await expectError(url, c);
      },
    );

    test('afterwards: store empty, counters zero, still serving', async () => {
      expect((await call(`${url}/data`)).body).toEqual({});
      expect((await call(`${url}/stats`)).body).toEqual({
        role: 'follower',
        applied: 0,
        ignored: 0,
        keys: 0,
        maxVersion: 0,
        snapshots: 0,
        batches: 0,
        bootId: follower.bootId,
      });
      expect((await call(`${url}/replicate`, 'POST', { key: 'k', value: 1, version: 1 })).body).toEqual({
        status: 'success',
        applied: true,
      });
    });
  });
});
