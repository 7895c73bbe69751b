/**
 * The harness's request engine for its hot path (POST /write, GET /read): one undici `Client` per
 * connection driven with the low-level `dispatch()` and a handler that collects the body from its
 * chunks. No Readable stream and no promise chain per body: ~12 µs of client CPU per request
 * against 16.5–21 µs for `Pool.request()` + `body.text()` (BENCHMARKS.md, benchmark 5).
 *
 * A closed-loop logical client never has more than one request in flight per node, so it gets its
 * own keep-alive connection to each node (`createConnections`) and no pool queueing is needed.
 * `fastRequest` works on any undici Dispatcher (Client or Pool), so callers that overlap requests
 * (visibility probes, benches) can still hand it a Pool.
 *
 * Errors are undici's own (UND_ERR_HEADERS_TIMEOUT, UND_ERR_BODY_TIMEOUT, UND_ERR_SOCKET,
 * ECONNREFUSED, ...), exactly as `request()` would throw them, so harness/http.ts classifies them
 * the same way. The promise settles only once the body has been read to its end (or the request
 * failed), so the connection is always free for the next request.
 */
import { Client, type Dispatcher } from 'undici';

export interface FastReply {
  status: number;
  /** The whole body, UTF-8. */
  text: string;
  /** Value of FastRequest.captureHeader in the response; null when absent or not asked for. */
  header: string | null;
}

export interface FastRequest {
  method: 'GET' | 'POST';
  path: string;
  /** Already serialised; sent with content-type application/json. */
  jsonBody?: string;
  /** Applies to the headers and, separately, to the body (undici headersTimeout / bodyTimeout). */
  timeoutMs: number;
  /** Extra request headers (e.g. the trace header). */
  headers?: Record<string, string>;
  /** Lower-case name of one response header to return in FastReply.header. */
  captureHeader?: string;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/** A header's value from undici's raw [name, value, ...] list; `name` in lower case. */
function findHeader(raw: Buffer[], name: string): string | null {
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i]!.toString('latin1').toLowerCase() === name) return raw[i + 1]!.toString('latin1');
  return null;
}

/** Called once per request: the whole reply, or the error undici reported. */
export type FastCallback = (err: Error | null, reply: FastReply | null) => void;

/**
 * Collects one reply for `fastDispatch`. A class rather than closures: one object per request, and
 * undici calls its methods on it.
 */
class Collector implements Dispatcher.DispatchHandler {
  private status = 0;
  private header: string | null = null;
  private first: Buffer | null = null;
  private rest: Buffer[] | null = null;

  constructor(
    private readonly captureHeader: string | undefined,
    private readonly done: FastCallback,
  ) {}

  onConnect(): void {}

  onHeaders(statusCode: number, raw: Buffer[]): boolean {
    this.status = statusCode;
    if (this.captureHeader !== undefined) this.header = findHeader(raw, this.captureHeader);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.first === null) this.first = chunk;
    else {
      this.rest ??= [this.first];
      this.rest.push(chunk);
    }
    return true;
  }

  onComplete(): void {
    const text =
      this.rest !== null
        ? Buffer.concat(this.rest).toString('utf8')
        : this.first !== null
          ? this.first.toString('utf8')
          : '';
    this.done(null, { status: this.status, text, header: this.header });
  }

  onError(err: Error): void {
    this.done(err, null);
  }
}

function requestHeaders(req: FastRequest): Record<string, string> | undefined {
  if (req.headers === undefined) return req.jsonBody === undefined ? undefined : JSON_HEADERS;
  return req.jsonBody === undefined ? req.headers : { ...JSON_HEADERS, ...req.headers };
}

/**
 * One request through `dispatcher.dispatch()`; `done` gets the status and the whole body once the
 * body has been read to its end, or the error. The callback form spares the hot paths a promise.
 */
export function fastDispatch(dispatcher: Dispatcher, req: FastRequest, done: FastCallback): void {
  dispatcher.dispatch(
    {
      method: req.method,
      path: req.path,
      headers: requestHeaders(req),
      body: req.jsonBody,
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
    },
    new Collector(req.captureHeader, done),
  );
}

/** One request through `dispatcher.dispatch()`; resolves with the status and the whole body. */
export function fastRequest(dispatcher: Dispatcher, req: FastRequest): Promise<FastReply> {
  return new Promise<FastReply>((resolve, reject) => {
    fastDispatch(dispatcher, req, (err, reply) => (err === null ? resolve(reply!) : reject(err)));
  });
}

export interface ConnectionOptions {
  timeoutMs: number;
}

/** One keep-alive connection (an undici Client, pipelining 1) to `origin`. */
export function createConnection(origin: string, options: ConnectionOptions): Client {
  return new Client(origin, {
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connectTimeout: Math.min(options.timeoutMs, 10_000),
  });
}

/** `count` connections to `origin`, one per logical client. */
export function createConnections(origin: string, count: number, options: ConnectionOptions): Client[] {
  return Array.from({ length: count }, () => createConnection(origin, options));
}

/** Close every connection gracefully (in-flight requests finish first); resolves once all are closed. */
export async function closeAll(dispatchers: readonly Dispatcher[]): Promise<void> {
  // One connection failing to close must not throw away the thread's results: destroy it instead.
  await Promise.allSettled(dispatchers.map((d) => d.close().catch(() => d.destroy())));
}
