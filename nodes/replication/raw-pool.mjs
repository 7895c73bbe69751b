// Keep-alive HTTP/1.1 connections to one follower for the replication thread's POSTs, written on
// net.Socket directly. Why not undici: on the loaded 2-vCPU VM its dispatch() cost ~70 µs of CPU
// per request against ~30 µs for a request written and parsed here, and this thread's CPU is what
// decides whether it is free at the next deadline. It only needs what the followers answer:
// a status line, headers with content-length (x-boot-id read on the way), a short body. Anything
// else (chunked framing, a malformed answer) fails the requests on that connection.
import net from 'node:net';

/** A connection idle this long is closed by us, before the follower's 10 s keep-alive timeout can race a new request. */
const IDLE_CLOSE_MS = 4000;

export class RequestError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * @param {string} origin http://host:port
 * @param {{ connections: number, timeoutMs: number, headers: Record<string,string> }} o
 */
export function createRawPool(origin, o) {
  const u = new URL(origin);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || 80);
  const fixedHead =
    `Host: ${u.host}\r\n` +
    Object.entries(o.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
  /** @type {Conn[]} */
  const conns = [];
  let closed = false;

  function pick() {
    let best = null;
    for (const c of conns) if (c.usable && (best === null || c.inflight.length < best.inflight.length)) best = c;
    if (best !== null && best.inflight.length === 0) return best;
    if (conns.length < o.connections) {
      const c = new Conn(host, port, o.timeoutMs, (dead) => conns.splice(conns.indexOf(dead), 1));
      conns.push(c);
      return c;
    }
    return best ?? conns[0];
  }

  return {
    /** POST `body` (JSON text) to `path`; cb(err, status, bootId) once the whole answer arrived. */
    post(path, body, cb) {
      if (closed) return cb(new RequestError('closed', 'pool closed'));
      const head = `POST ${path} HTTP/1.1\r\n${fixedHead}content-length: ${Buffer.byteLength(body)}\r\n\r\n`;
      pick().send(head + body, cb);
    },
    /** Close every connection once its requests are answered (at most graceMs). */
    close(graceMs) {
      closed = true;
      return Promise.all(conns.slice().map((c) => c.closeWhenIdle(graceMs)));
    },
  };
}

class Conn {
  constructor(host, port, timeoutMs, onDead) {
    this.inflight = [];
    this.usable = true;
    this.buf = null;
    this.onDead = onDead;
    this.idleWaiters = [];
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.setTimeout(timeoutMs);
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('timeout', () => {
      if (this.inflight.length > 0)
        this.fail(new RequestError('UND_ERR_HEADERS_TIMEOUT', `no answer within ${timeoutMs} ms`));
    });
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new RequestError('UND_ERR_SOCKET', 'connection closed by the follower')));
    this.idleTimer = null;
  }

  send(text, cb) {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.inflight.push(cb);
    this.socket.write(text);
  }

  onData(chunk) {
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf !== null && this.inflight.length > 0) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const raw = this.buf.toString('latin1', 0, end);
      const head = raw.toLowerCase();
      const status = Number(head.slice(9, 12));
      const length = headerValue(head, raw, 'content-length');
      if (!(status >= 100) || length === null) {
        this.fail(new RequestError('UND_ERR_INVALID_RESPONSE', 'answer without status or content-length'));
        return;
      }
      const total = end + 4 + Number(length);
      if (this.buf.length < total) return;
      const bootId = headerValue(head, raw, 'x-boot-id');
      this.buf = this.buf.length === total ? null : this.buf.subarray(total);
      const cb = this.inflight.shift();
      if (headerValue(head, head, 'connection') === 'close') this.retire();
      cb(null, status, bootId);
    }
    if (this.inflight.length === 0) this.becameIdle();
  }

  becameIdle() {
    for (const wake of this.idleWaiters.splice(0)) wake();
    if (this.usable && this.idleTimer === null) {
      this.idleTimer = setTimeout(() => this.retire(), IDLE_CLOSE_MS);
      this.idleTimer.unref();
    }
  }

  /** Take no new requests; close once the ones in flight are answered. */
  retire() {
    if (!this.usable) return;
    this.usable = false;
    this.onDead(this);
    if (this.inflight.length === 0) this.socket.end();
    else this.idleWaiters.push(() => this.socket.end());
  }

  fail(err) {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.usable) {
      this.usable = false;
      this.onDead(this);
    }
    const cbs = this.inflight.splice(0);
    this.socket.destroy();
    for (const wake of this.idleWaiters.splice(0)) wake();
    for (const cb of cbs) cb(err);
  }

  closeWhenIdle(graceMs) {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.fail(new RequestError('closed', 'pool closed'));
        resolve();
      }, graceMs);
      const done = () => {
        clearTimeout(t);
        this.socket.destroy();
        resolve();
      };
      if (this.inflight.length === 0) done();
      else this.idleWaiters.push(done);
    });
  }
}

/** The value of header `name` (found in the lower-cased block `lower`, taken from `raw`), or null. */
function headerValue(lower, raw, name) {
  const at = lower.indexOf(`\r\n${name}:`);
  if (at < 0) return null;
  const start = at + name.length + 3;
  const end = lower.indexOf('\r\n', start);
  return raw.slice(start, end < 0 ? raw.length : end).trim();
}
