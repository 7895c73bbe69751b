/**
 * The dispatch()-based request engine (harness/fast-client.ts) behind postWrite / readKey, against
 * a tiny local server: replies, error kinds (timeout vs connection vs http vs quorum), keep-alive
 * reuse of one connection, and a clean close.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { closeAll, createConnection, fastRequest } from '../harness/fast-client.ts';
import { postWrite, readKey } from '../harness/http.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function serve(handler: Handler): Promise<{ url: string; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => handler(req, res, body));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

describe('fast-client engine', () => {
  test('parses replies, sends the JSON body and reuses one keep-alive connection', async () => {
    const seen: string[] = [];
    const srv = await serve((req, res, body) => {
      seen.push(`${req.method} ${req.url} ${req.headers['content-type'] ?? ''} ${body}`);
      if (req.url === '/write') json(res, 200, { version: 7 });
      else if (req.url === '/read?key=missing') json(res, 404, { error: 'not_found' });
      else if (req.url?.startsWith('/read')) json(res, 200, { key: 'a b', value: 'x'.repeat(100_000), version: 3 });
      else json(res, 500, {});
    });
    const c = createConnection(srv.url, { timeoutMs: 2000 });
    try {
      expect(await postWrite(c, 'k', 'v', 2000)).toEqual({ ok: true, version: 7 });
      expect(await readKey(c, 'a b', 2000)).toMatchObject({ ok: true, version: 3 }); // a multi-chunk body
      expect(await readKey(c, 'missing', 2000)).toEqual({ ok: true, version: 0 });
      expect((await fastRequest(c, { method: 'GET', path: '/other', timeoutMs: 2000 })).status).toBe(500);
      expect(srv.sockets.size).toBe(1);
    } finally {
      await closeAll([c]);
    }
    expect(seen[0]).toBe('POST /write application/json {"key":"k","value":"v"}');
    expect(seen[1]).toBe('GET /read?key=a%20b  ');
    expect(c.closed).toBe(true);
  });

  test('http and quorum error kinds', async () => {
    let mode = 'quorum-fast';
    const srv = await serve((_req, res) => {
      if (mode === 'quorum-fast') json(res, 503, { error: 'quorum_not_reached', reason: 'insufficient_followers' });
      else if (mode === 'quorum-late') json(res, 503, { error: 'quorum_not_reached', reason: 'timeout' });
      else if (mode === 'bad-json') {
        res.writeHead(200);
        res.end('{not json');
      } else json(res, 400, { error: 'bad_request' });
    });
    const c = createConnection(srv.url, { timeoutMs: 2000 });
    cleanups.push(() => c.close());
    expect(await postWrite(c, 'k', 'v', 2000)).toMatchObject({
      ok: false,
      kind: 'quorum',
      status: 503,
      unknown: false,
    });
    mode = 'quorum-late';
    expect(await postWrite(c, 'k', 'v', 2000)).toMatchObject({ ok: false, kind: 'quorum', status: 503, unknown: true });
    mode = 'bad-json';
    // A 2xx acknowledges the write even when its body says nothing more (seed-API clusters).
    expect(await postWrite(c, 'k', 'v', 2000)).toEqual({ ok: true, version: null });
    expect(await readKey(c, 'k', 2000)).toMatchObject({ ok: false, kind: 'http', status: 200, unparsed: '{not json' });
    mode = '400';
    expect(await postWrite(c, 'k', 'v', 2000)).toMatchObject({ ok: false, kind: 'http', status: 400, unknown: false });
    expect(await readKey(c, 'k', 2000)).toMatchObject({ ok: false, kind: 'http', status: 400 });
  });

  test('a server that never answers is a timeout (headers), and so is a stalled body', async () => {
    let mode = 'no-headers';
    const srv = await serve((_req, res) => {
      if (mode === 'stall-body') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"version":');
      }
      // no-headers: never answer
    });
    const c = createConnection(srv.url, { timeoutMs: 10_000 });
    cleanups.push(() => c.destroy());
    // The per-request timeout (150 ms) wins over the connection's default (10 s); undici's
    // timeout timers are coarse (~1 s) and a busy machine adds more, so only "well before 10 s" is checked.
    const timed = async <T>(call: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const r = await call();
      expect(performance.now() - t0).toBeLessThan(5000);
      return r;
    };
    expect(await timed(() => postWrite(c, 'k', 'v', 150))).toMatchObject({ ok: false, kind: 'timeout', unknown: true });
    expect(await timed(() => readKey(c, 'k', 150))).toMatchObject({ ok: false, kind: 'timeout' });
    mode = 'stall-body';
    expect(await timed(() => readKey(c, 'k', 150))).toMatchObject({ ok: false, kind: 'timeout' });
    expect(await timed(() => postWrite(c, 'k', 'v', 150))).toMatchObject({ ok: false, kind: 'timeout', unknown: true });
  });

  test('a closed socket or a refused connection is a connection error', async () => {
    const srv = await serve((req) => req.socket.destroy());
    const c = createConnection(srv.url, { timeoutMs: 2000 });
    cleanups.push(() => c.close());
    expect(await postWrite(c, 'k', 'v', 2000)).toMatchObject({ ok: false, kind: 'connection', unknown: true });
    expect(await readKey(c, 'k', 2000)).toMatchObject({ ok: false, kind: 'connection' });

    // A port nobody listens on: the request never left, so the write is known not applied.
    const dead = await serve(() => {});
    const deadUrl = dead.url;
    await cleanups.pop()!();
    const d = createConnection(deadUrl, { timeoutMs: 2000 });
    cleanups.push(() => d.close());
    expect(await postWrite(d, 'k', 'v', 2000)).toMatchObject({ ok: false, kind: 'connection', unknown: false });
    expect(await readKey(d, 'k', 2000)).toMatchObject({ ok: false, kind: 'connection' });
  });
});
