/** The replication thread's HTTP/1.1 client (nodes/replication/raw-pool.mjs), against hand-written answers. */
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
// @ts-expect-error plain JS module of the replication thread (no types)
import { createRawPool } from '../nodes/replication/raw-pool.mjs';

type Reply = (err: (Error & { code?: string }) | null, status?: number, bootId?: string | null) => void;
interface Pool {
  post(path: string, body: string, cb: Reply): void;
  close(graceMs: number): Promise<void>;
}

const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A server that hands every request's raw text to `onRequest` and writes what it returns, in pieces. */
async function rawServer(answer: (req: string, socket: net.Socket) => void): Promise<string> {
  const server = net.createServer((socket) => {
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        answer(buf.slice(0, end + 4 + len), socket);
        buf = buf.slice(end + 4 + len);
      }
    });
    socket.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const ok = (boot: string) =>
  `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Boot-Id: ${boot}\r\nContent-Length: 2\r\n\r\n{}`;
const post = (pool: Pool, body = '{"k":1}') =>
  new Promise<{ err: (Error & { code?: string }) | null; status?: number; bootId?: string | null }>((resolve) =>
    pool.post('/replicate', body, (err, status, bootId) => resolve({ err, status, bootId })),
  );

describe('raw replication pool', () => {
  test('sends the headers and body; reads status and boot id (case kept) from answers split across packets', async () => {
    const seen: string[] = [];
    const url = await rawServer((req, socket) => {
      seen.push(req);
      const text = ok('Boot-AbC');
      socket.write(text.slice(0, 7));
      setTimeout(() => socket.write(text.slice(7)), 5);
    });
    const pool: Pool = createRawPool(url, { connections: 1, timeoutMs: 2000, headers: { authorization: 'Bearer t' } });
    const body = '{"key":"é","value":1,"version":3}';
    expect(await post(pool, body)).toEqual({ err: null, status: 200, bootId: 'Boot-AbC' });
    expect(seen[0]).toMatch(/^POST \/replicate HTTP\/1\.1\r\n/);
    expect(seen[0]).toContain('authorization: Bearer t\r\n');
    expect(seen[0]).toContain(`content-length: ${Buffer.byteLength(body)}\r\n`);
    await pool.close(100);
  });

  test('pipelined answers arriving in one packet settle their requests in order', async () => {
    let pending: net.Socket | undefined;
    let count = 0;
    const url = await rawServer((_req, socket) => {
      pending = socket;
      if (++count === 3) socket.write(`${ok('a')}HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n${ok('c')}`);
    });
    const pool: Pool = createRawPool(url, { connections: 1, timeoutMs: 2000, headers: {} });
    const results = await Promise.all([post(pool), post(pool), post(pool)]);
    expect(results.map((r) => r.status)).toEqual([200, 401, 200]);
    expect(pending).toBeDefined();
    await pool.close(100);
  });

  test('a chunked answer, a hung follower and a refused connection fail their requests with a code', async () => {
    const chunked = await rawServer((_req, socket) =>
      socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'),
    );
    const hung = await rawServer(() => {});
    const refused = await rawServer(() => {});
    await new Promise((r) => servers.pop()!.close(r));
    const a: Pool = createRawPool(chunked, { connections: 1, timeoutMs: 2000, headers: {} });
    const b: Pool = createRawPool(hung, { connections: 1, timeoutMs: 200, headers: {} });
    const c: Pool = createRawPool(refused, { connections: 1, timeoutMs: 2000, headers: {} });
    expect((await post(a)).err?.code).toBe('UND_ERR_INVALID_RESPONSE');
    expect((await post(b)).err?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect((await post(c)).err?.code).toBe('ECONNREFUSED');
    // The pools recover: a new request opens a new connection.
    expect((await post(c)).err?.code).toBe('ECONNREFUSED');
    await Promise.all([a, b, c].map((p) => p.close(100)));
  });
});
