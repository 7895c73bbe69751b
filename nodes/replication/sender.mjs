// The replication thread's HTTP side: one undici Pool per follower driven with dispatch(), so a
// request costs no promise chain and no stream. Legs to one follower that fall due in the same
// wake-up leave as one `POST /replicate/batch`; a lone leg as the seed's `POST /replicate`. A
// follower that answers 404 to the batch form (a foreign, seed-style follower) gets single
// messages from then on. Shapes: contracts/replication.ts; results: LegResult in nodes/replication/protocol.ts.
import { Pool } from 'undici';

export const ACKED = 0;
export const FAILED = 1;
export const SKIPPED = 2;

const BOOT_ID_HEADER = 'x-boot-id';

/**
 * @param {{ urls: string[], connections: number, timeoutMs: number, headers: Record<string,string>,
 *   nowNs: () => number, onResult: (r: unknown[]) => void, onRequest: (entries: number) => void }} o
 */
export function createSender(o) {
  const pools = o.urls.map(
    (url) =>
      new Pool(url, {
        connections: o.connections,
        pipelining: 1,
        keepAliveTimeout: 10_000,
        connectTimeout: o.timeoutMs,
        headersTimeout: o.timeoutMs,
        bodyTimeout: o.timeoutMs,
      }),
  );
  const noBatch = o.urls.map(() => false);
  const headers = { 'content-type': 'application/json', ...o.headers };

  /** @param {number} i @param {string} path @param {string} body @param {number[]} versions @param {number} firedNs */
  function dispatch(i, path, body, versions, firedNs, payloads) {
    let status = 0;
    let boot = null;
    const sentNs = o.nowNs();
    o.onRequest(versions.length);
    pools[i].dispatch(
      { method: 'POST', path, headers, body },
      {
        onConnect() {},
        onHeaders(statusCode, raw) {
          status = statusCode;
          for (let k = 0; k < raw.length; k += 2) {
            if (raw[k].length === BOOT_ID_HEADER.length && raw[k].toString('latin1').toLowerCase() === BOOT_ID_HEADER) {
              boot = raw[k + 1].toString('latin1');
            }
          }
          return true;
        },
        onData() {
          return true;
        },
        onComplete() {
          const ackNs = o.nowNs();
          if (status === 200) o.onResult([i, ACKED, versions, firedNs, sentNs, ackNs, boot]);
          else if (status === 404 && versions.length > 1 && !noBatch[i]) {
            noBatch[i] = true;
            for (let k = 0; k < versions.length; k++) dispatch(i, '/replicate', payloads[k], [versions[k]], firedNs, [payloads[k]]);
          } else o.onResult([i, FAILED, versions, firedNs, sentNs, ackNs, `${path} answered ${status}`]);
        },
        onError(err) {
          o.onResult([i, FAILED, versions, firedNs, sentNs, o.nowNs(), err.code ?? err.message]);
        },
      },
    );
  }

  return {
    /**
     * Send the legs due for follower `i` now: one request.
     * @param {number} i @param {{ version: number, payload: string }[]} writes @param {number} firedNs
     */
    send(i, writes, firedNs) {
      if (writes.length === 1 || noBatch[i]) {
        for (const w of writes) dispatch(i, '/replicate', w.payload, [w.version], firedNs, [w.payload]);
        return;
      }
      const payloads = writes.map((w) => w.payload);
      dispatch(i, '/replicate/batch', `{"entries":[${payloads.join(',')}]}`, writes.map((w) => w.version), firedNs, payloads);
    },
    /** Close every pool, in-flight requests first (bounded by graceMs). */
    async close(graceMs) {
      await Promise.all(
        pools.map((p) =>
          Promise.race([p.close().catch(() => {}), new Promise((r) => setTimeout(r, graceMs))]).then(() => p.destroy().catch(() => {})),
        ),
      );
    },
  };
}
