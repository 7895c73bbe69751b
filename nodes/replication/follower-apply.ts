/**
 * The follower's side of replication: `POST /replicate` (one write, the seed's form),
 * `POST /replicate/batch` (the messages to this follower that fell due in one wake-up of the
 * leader's engine) and `POST /snapshot` (catch-up). Shapes: contracts/replication.ts.
 *
 * Every entry follows the newer-version rule on its own (VersionedStore.apply), so duplicates,
 * reordering and a snapshot racing with live messages can never move a key backwards.
 *
 * Hot path: this runs once per replication message on every follower, so the acks are
 * pre-serialised with their headers (no per-request object spreads or JSON.stringify).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { REPLICATE_BATCH_PATH, REPLICATE_PATH } from '../../contracts/replication.ts';
import { monotonicUs } from '../../contracts/trace.ts';
import { isTraced } from '../trace-ring.ts';
import { guarded } from '../auth.ts';
import {
  BOOT_ID_HEADER,
  HttpError,
  assertValueDepth,
  isPlainObject,
  readJsonBody,
  sendJson,
  type RouteTable,
} from '../http-util.ts';
import type { VersionedStore } from '../store.ts';

/** Framing a /snapshot or /replicate/batch body may add on top of its entries, bytes. */
export const BATCH_FRAMING_BYTES = 1024;

/** A validated replication entry. */
export interface ParsedEntry {
  key: string;
  value: unknown;
  version: number;
  trace: boolean;
}

/** Counters the follower reports in /stats; this module only increments them. */
export interface ApplyCounters {
  applied: number;
  ignored: number;
  snapshots: number;
  batches: number;
}

/** Called for every entry that asked for a trace, after it was applied (or found older). */
export type ApplyTraceHook = (
  key: string,
  version: number,
  receivedUs: number,
  appliedUs: number,
  applied: boolean,
) => void;

export interface ReplicateRoutesOptions {
  store: VersionedStore;
  counters: ApplyCounters;
  /** Throws 401 unless the request carries the replication token (auth.ts createTokenCheck). */
  check: (req: IncomingMessage) => void;
  /** Largest /replicate body, bytes; a batch or snapshot may add BATCH_FRAMING_BYTES. */
  replLimitBytes: number;
  bootId: string;
  onTrace?: ApplyTraceHook;
}

/** Validate a `/replicate` body: `{ key: non-empty string, value: any JSON, version: positive integer }`. */
export function parseReplicateBody(body: unknown): ParsedEntry {
  if (!isPlainObject(body))
    throw new HttpError(400, 'invalid_body', 'body must be a JSON object {"key","value","version"}');
  const { key, version } = body;
  if (typeof key !== 'string' || key === '')
    throw new HttpError(400, 'invalid_key', '"key" must be a non-empty string');
  if (!('value' in body)) throw new HttpError(400, 'missing_value', '"value" is required (any JSON, null included)');
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new HttpError(400, 'invalid_version', '"version" must be a positive integer');
  }
  assertValueDepth(body.value);
  return { key, value: body.value, version, trace: body.trace === 1 };
}

/** Validate `{ entries: [{key, value, version, trace?}, ...] }` (a batch or a snapshot chunk); the first bad entry names its index. */
export function parseEntries(body: unknown): ParsedEntry[] {
  if (!isPlainObject(body) || !Array.isArray(body.entries)) {
    throw new HttpError(
      400,
      'invalid_body',
      'body must be a JSON object {"entries": [{"key","value","version"}, ...]}',
    );
  }
  const entries = body.entries as unknown[];
  const out = new Array<ParsedEntry>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    try {
      out[i] = parseReplicateBody(entries[i]);
    } catch (err) {
      if (err instanceof HttpError)
        throw new HttpError(err.status, err.code, `entries[${i}]: ${err.message}`, { index: i });
      throw err;
    }
  }
  return out;
}

/** A fixed 200 JSON answer with the boot id, serialised once. */
function fixedAnswer(text: string, bootId: string): Record<string, string | number> {
  return {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    [BOOT_ID_HEADER]: bootId,
  };
}

export function createReplicateRoutes(options: ReplicateRoutesOptions): RouteTable {
  const { store, counters, check, replLimitBytes, bootId, onTrace } = options;
  const appliedText = '{"status":"success","applied":true}';
  const ignoredText = '{"status":"success","applied":false}';
  const appliedHead = fixedAnswer(appliedText, bootId);
  const ignoredHead = fixedAnswer(ignoredText, bootId);
  const bootHeader = { [BOOT_ID_HEADER]: bootId };

  /** Apply a validated list; returns how many were newer. */
  const applyAll = (entries: ParsedEntry[], receivedUs: number): number => {
    let n = 0;
    for (const e of entries) {
      const applied = store.apply(e.key, e.value, e.version);
      if (applied) n++;
      if (e.trace && onTrace) onTrace(e.key, e.version, receivedUs, monotonicUs(), applied);
    }
    counters.applied += n;
    counters.ignored += entries.length - n;
    return n;
  };

  const single = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const traced = onTrace !== undefined && isTraced(req);
    // A single message may ask for a trace by header or by `"trace":1` in its body: stamp its arrival either way.
    const receivedUs = onTrace !== undefined ? monotonicUs() : 0;
    const e = parseReplicateBody(await readJsonBody(req, replLimitBytes));
    if (traced) e.trace = true;
    const applied = applyAll([e], receivedUs) === 1;
    res.writeHead(200, applied ? appliedHead : ignoredHead);
    res.end(applied ? appliedText : ignoredText);
  };

  const batch = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const receivedUs = onTrace ? monotonicUs() : 0;
    const entries = parseEntries(await readJsonBody(req, replLimitBytes + BATCH_FRAMING_BYTES));
    const n = applyAll(entries, receivedUs);
    counters.batches++;
    const text = `{"status":"success","applied":${n},"ignored":${entries.length - n}}`;
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': text.length,
      ...bootHeader,
    });
    res.end(text);
  };

  // Catch-up after a restart or an outage: many entries at once, each under the same rule as
  // /replicate, so live messages racing with a snapshot cannot be undone.
  const snapshot = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const entries = parseEntries(await readJsonBody(req, replLimitBytes + BATCH_FRAMING_BYTES));
    const n = applyAll(entries, 0);
    counters.snapshots++;
    sendJson(res, 200, { status: 'success', applied: n, ignored: entries.length - n }, bootHeader);
  };

  return {
    [REPLICATE_PATH]: { POST: guarded(check, single) },
    [REPLICATE_BATCH_PATH]: { POST: guarded(check, batch) },
    '/snapshot': { POST: guarded(check, snapshot) },
  };
}

/** The wire form of one entry, as the leader's engine writes it (serialised once per write). */
export function entryJson(keyJson: string, valueJson: string, version: number, trace: boolean): string {
  return `{"key":${keyJson},"value":${valueJson},"version":${version}${trace ? ',"trace":1' : ''}}`;
}
