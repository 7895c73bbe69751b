import { isUtf8 } from 'node:buffer';
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFollower, type FollowerServer } from '../nodes/follower.ts';
import { createLeader, type LeaderServer } from '../nodes/leader.ts';
import { call, until, SERVERS } from './nodes-helpers.ts';

// Small limits so bodies on both sides of them are cheap to generate.
const LIMIT = 8192;
const REPL_LIMIT = 16384;
const MAX_DEPTH = 200;
const RUNS = 150;

/** Through JSON and back: what a node can store for a value (Infinity → null, -0 → 0). */
const normal = (v: unknown) => JSON.parse(JSON.stringify(v) ?? 'null');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function depth(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  let d = 0;
  for (const x of Object.values(v)) d = Math.max(d, depth(x));
  return d + 1;
}

/** The documented answer to a /write body (docs/nodes.md, "Bad input"). */
function expectedWrite(raw: Buffer): [number, string?] {
  if (raw.length > LIMIT) return [413, 'payload_too_large'];
  if (!isUtf8(raw)) return [400, 'invalid_json'];
  let body: any;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return [400, 'invalid_json'];
  }
  if (!isObject(body)) return [400, 'invalid_body'];
  if (typeof body.key !== 'string' || body.key === '') return [400, 'invalid_key'];
  if (!('value' in body)) return [400, 'missing_value'];
  if (depth(body.value) > MAX_DEPTH) return [400, 'invalid_value'];
  const message = JSON.stringify({ key: body.key, value: body.value, version: Number.MAX_SAFE_INTEGER });
  if (Buffer.byteLength(message) > REPL_LIMIT) return [413, 'payload_too_large'];
  return [200];
}

const json = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' });
const anyKey = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', ' ', '__proto__', 'constructor', 'é/?&=#', '\u0000', '\ud800'),
);
const nonKey = fc.oneof(
  json.filter((v) => typeof v !== 'string'),
  fc.constant(''),
);
const nested = (d: number, inner = '1') => '['.repeat(d) + inner + ']'.repeat(d);

/** Bodies for /write: valid and invalid shapes, raw text, random bytes, and sizes around the limits. */
const writeBody: fc.Arbitrary<Buffer> = fc
  .oneof(
    fc.record({ key: anyKey, value: json }).map((b) => JSON.stringify(b)),
    fc.record({ key: anyKey, value: json, extra: json }, { requiredKeys: ['key'] }).map((b) => JSON.stringify(b)),
    fc.record({ key: nonKey, value: json }, { requiredKeys: [] }).map((b) => JSON.stringify(b)),
    json.map((v) => JSON.stringify(v)),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.constantFrom(
      '{"key":"k","value":1e400}',
      '{"key":"k","value":-0}',
      '{"key":"k","key":"","value":1}',
      '{"key":"k","value":1}garbage',
      '{"key":"k","value":9007199254740993}',
    ),
    fc.integer({ min: 150, max: 260 }).map((d) => `{"key":"deep","value":${nested(d)}}`),
    fc.integer({ min: LIMIT - 40, max: LIMIT + 40 }).map((n) => `{"key":"big","value":"${'x'.repeat(n - 24)}"}`),
    fc.integer({ min: 700, max: 1600 }).map((n) => `{"key":"grow","value":[${new Array(n).fill('9e20').join(',')}]}`),
  )
  .map((s) => (typeof s === 'string' ? Buffer.from(s) : s));
const bytes = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));

function expectErrorShape(res: { status: number; body: any; headers: Record<string, unknown> }) {
  expect(res.status).toBeLessThan(500);
  if (res.status >= 400) {
    expect(typeof res.body.error).toBe('string');
    expect(typeof res.body.message).toBe('string');
    expect(String(res.headers['content-type'])).toMatch(/application\/json/);
  }
}

describe.each(SERVERS)('$name server', ({ createListener }) => {
  let followers: FollowerServer[];
  let followerUrls: string[];
  let leader: LeaderServer;
  let url: string;

  async function post(path: string, raw: Buffer | string, base = url, headers: Record<string, string> = {}) {
    return call(`${base}${path}`, 'POST', raw, { raw: true, headers });
  }

  beforeAll(async () => {
    followers = [0, 1].map(() => createFollower({ createListener, replicationBodyLimitBytes: REPL_LIMIT }));
    followerUrls = (await Promise.all(followers.map((f) => f.listen(0)))).map((l) => l.url);
    leader = createLeader({
      createListener,
      followers: followerUrls,
      writeQuorum: 2,
      bodyLimitBytes: LIMIT,
      replicationBodyLimitBytes: REPL_LIMIT,
      minDelayMs: 0,
      maxDelayMs: 0.2,
    });
    ({ url } = await leader.listen(0));
  });
  afterAll(async () => {
    await leader?.close();
    await Promise.all(followers.map((f) => f.close()));
  });

  describe('hostile input on the leader', () => {
    test('POST /write: the documented answer for any body; only a 200 uses a version and changes the store', async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(writeBody, bytes), async (raw) => {
          const [status, code] = expectedWrite(raw);
          const before = { version: leader.store.maxVersion, size: leader.store.size };
          const res = await post('/write', raw);
          expectErrorShape(res);
          expect([res.status, res.body?.error]).toEqual([status, code]);
          if (status === 200) {
            const body = JSON.parse(raw.toString('utf8'));
            expect(res.body).toMatchObject({ status: 'success', key: body.key, version: before.version + 1, acks: 2 });
            expect(res.body.value).toEqual(normal(body.value));
            expect(normal(leader.store.get(body.key))).toEqual({
              value: normal(body.value),
              version: before.version + 1,
            });
          } else {
            expect({ version: leader.store.maxVersion, size: leader.store.size }).toEqual(before);
          }
        }),
        { numRuns: RUNS * 2 },
      );
      // What was accepted reached every follower exactly.
      await until(async () => (await call(`${url}/stats`)).body.replication.pending === 0, 'replication drained');
      const data = (await call(`${url}/data`)).body;
      for (const u of followerUrls) expect((await call(`${u}/data`)).body).toEqual(data);
    });

    test('any method on any path: 2xx/4xx JSON, never a 5xx', async () => {
      const paths = fc.oneof(
        fc.constantFrom(
          '/write',
          '/read',
          '/read?key=k',
          '/data',
          '/health',
          '/stats',
          '/stats/reset',
          '/config',
          '/replicate',
          '/snapshot',
          '/',
          '//write',
          '/write/',
          '/WRITE',
        ),
        fc.webPath(),
      );
      const version = () => leader.store.maxVersion;
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
          paths,
          fc.option(bytes),
          async (method, path, body) => {
            const v = version();
            const quorum = leader.writeQuorum;
            const res = await call(`${url}${path}`, method, body ?? undefined, { raw: true });
            expect(res.status).toBeLessThan(500);
            if (method !== 'HEAD' && res.status >= 400) expect(typeof res.body.error).toBe('string');
            if (!(method === 'POST' && path === '/write')) expect(version()).toBe(v);
            if (!(method === 'PUT' && path === '/config')) expect(leader.writeQuorum).toBe(quorum);
          },
        ),
        { numRuns: RUNS },
      );
    });

    test('PUT /config: 200 only for an integer W in 1..followers', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(json, fc.record({ writeQuorum: json }), fc.record({ writeQuorum: fc.integer({ min: -3, max: 5 }) })),
          async (body) => {
            const before = leader.writeQuorum;
            const res = await call(`${url}/config`, 'PUT', body);
            const w = isObject(body) ? body.writeQuorum : undefined;
            const valid = typeof w === 'number' && Number.isInteger(w) && w >= 1 && w <= 2;
            expect(res.status).toBe(valid ? 200 : 400);
            expect(leader.writeQuorum).toBe(valid ? w : before);
          },
        ),
        { numRuns: RUNS },
      );
      await call(`${url}/config`, 'PUT', { writeQuorum: 2 });
    });

    test('GET /read with any query: 200, 404 or 400, and any written key reads back', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc
              .uint8Array({ maxLength: 12 })
              .map((a) => `key=${[...a].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`),
            fc.string({ unit: 'binary-ascii', maxLength: 20 }).map((s) => encodeURI(s)),
            fc.constantFrom('key=%', 'key=%ZZ', 'key=%E0%A4', 'key', 'key=&key=', 'KEY=a', 'key=a&key=a'),
          ),
          async (query) => {
            const res = await call(`${url}/read?${query}`);
            expect([200, 400, 404]).toContain(res.status);
            expectErrorShape(res);
          },
        ),
        { numRuns: RUNS },
      );
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), json, async (key, value) => {
          const w = await call(`${url}/write`, 'POST', { key, value });
          expect(w.status).toBe(200);
          const r = await call(`${url}/read?key=${encodeURIComponent(key)}`);
          expect(r.body).toEqual({ key, value: normal(value), version: w.body.version });
        }),
        { numRuns: 60 },
      );
    });

    test('malformed HTTP gets a JSON 4xx (or an answer), and the server keeps serving', async () => {
      const port = Number(new URL(url).port);
      const rawExchange = (text: string) =>
        new Promise<string>((resolve) => {
          const sock = net.connect(port, '127.0.0.1');
          let got = '';
          const timer = setTimeout(() => sock.destroy(), 3000);
          sock.on('data', (d) => (got += d.toString('latin1')));
          sock.on('close', () => {
            clearTimeout(timer);
            resolve(got);
          });
          sock.on('error', () => {});
          sock.write(text, 'latin1', () => sock.end());
        });
      const fixed = [
        'POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
        'POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
        'GET /health HTTP/9.9\r\n\r\n',
        '\x00\x01\x02\r\n\r\n',
        `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      ];
      for (const text of fixed) {
        const got = await rawExchange(text);
        expect(got, JSON.stringify(text.slice(0, 60))).toMatch(/^HTTP\/1\.1 4\d\d /);
        expect(got).toMatch(/content-type: application\/json/i);
      }
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'binary-ascii', maxLength: 80 }), async (line) => {
          const got = await rawExchange(`${line}\r\n\r\n`);
          if (got !== '') expect(got).toMatch(/^HTTP\/1\.1 [1-4]\d\d /);
        }),
        { numRuns: 40 },
      );
      expect((await call(`${url}/health`)).status).toBe(200);
    });
  });

  describe('hostile input on a follower', () => {
    let f: FollowerServer;
    let furl: string;
    beforeAll(async () => {
      f = createFollower({ createListener, replicationBodyLimitBytes: REPL_LIMIT });
      ({ url: furl } = await f.listen(0));
    });
    afterAll(() => f.close());

    const versions = fc.oneof(
      fc.integer({ min: 1, max: 40 }),
      fc.constantFrom(0, -1, 1.5, 2 ** 53, 2 ** 53 - 1, 1e300, -0, '3', null, true, [], {}),
    );
    const keys = fc.oneof(fc.constantFrom('a', 'b', 'ü', '__proto__'), anyKey, nonKey);
    const message = fc.record({ key: keys, value: json, version: versions }, { requiredKeys: [] });

    function validMessage(m: Record<string, unknown>): m is { key: string; value: unknown; version: number } {
      return (
        typeof m.key === 'string' &&
        m.key !== '' &&
        'value' in m &&
        Number.isSafeInteger(m.version) &&
        (m.version as number) >= 1
      );
    }

    test('POST /replicate: duplicates, stale and bad versions never move a key back; only valid newer messages apply', async () => {
      const model = new Map<string, { value: unknown; version: number }>();
      await fc.assert(
        fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: message }, { weight: 1, arbitrary: bytes }), async (m) => {
          const res = Buffer.isBuffer(m)
            ? await post('/replicate', m, furl)
            : await call(`${furl}/replicate`, 'POST', m);
          expectErrorShape(res);
          if (!Buffer.isBuffer(m) && validMessage(m)) {
            const cur = model.get(m.key);
            const applies = cur === undefined || cur.version < m.version;
            expect(res.body).toEqual({ status: 'success', applied: applies });
            if (applies) model.set(m.key, { value: normal(m.value), version: m.version });
          } else if (res.status === 200) {
            // Random bytes that happen to be a valid message.
            const parsed = JSON.parse(m.toString());
            if (res.body.applied) model.set(parsed.key, { value: normal(parsed.value), version: parsed.version });
          } else {
            expect(res.status).toBe(400);
          }
          expect(f.store.size).toBe(model.size);
        }),
        { numRuns: RUNS * 2 },
      );
      expect((await call(`${furl}/data`)).body).toEqual(Object.fromEntries(model));
    });

    test('POST /snapshot: all entries valid → each applied by the newer-version rule; any invalid → 400, nothing applied', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(message, { maxLength: 8 }), async (entries) => {
          const before = JSON.stringify(f.store.toJSON());
          const res = await call(`${furl}/snapshot`, 'POST', { entries });
          expectErrorShape(res);
          if (entries.every(validMessage)) {
            expect(res.status).toBe(200);
            expect(res.body.applied + res.body.ignored).toBe(entries.length);
            for (const e of entries as Array<{ key: string; version: number }>)
              expect(f.store.get(e.key)!.version).toBeGreaterThanOrEqual(e.version);
          } else {
            expect(res.status).toBe(400);
            expect(JSON.stringify(f.store.toJSON())).toBe(before);
          }
        }),
        { numRuns: RUNS },
      );
    });

    test('client endpoints on a follower never change its store', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('/write', '/read', '/data', '/health', '/stats', '/stats/reset', '/config'),
          fc.oneof(writeBody, bytes),
          async (path, raw) => {
            const before = JSON.stringify(f.store.toJSON());
            const res = await post(path, raw, furl);
            expectErrorShape(res);
            expect(JSON.stringify(f.store.toJSON())).toBe(before);
          },
        ),
        { numRuns: RUNS },
      );
    });
  });
});
