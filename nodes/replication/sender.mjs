// The replication thread's HTTP side: keep-alive connections per follower (raw-pool.mjs). Legs
// to one follower that fall due in the same wake-up leave as one `POST /replicate/batch`; a lone
// leg as the seed's `POST /replicate`. A follower that answers 404 to the batch form (a foreign,
// seed-style follower) gets single messages from then on. Shapes: contracts/replication.ts;
// results: LegResult in nodes/replication/protocol.ts.
import { createRawPool } from './raw-pool.mjs';

export const ACKED = 0;
export const FAILED = 1;
export const SKIPPED = 2;
export const RECEIVED = 3;

/**
 * @param {{ urls: string[], connections: number, timeoutMs: number, headers: Record<string,string>,
 *   nowNs: () => number, onResult: (r: unknown[]) => void, onRequest: (entries: number) => void }} o
 */
export function createSender(o) {
  const headers = { 'content-type': 'application/json', ...o.headers };
  const pools = o.urls.map((url) =>
    createRawPool(url, { connections: o.connections, timeoutMs: o.timeoutMs, headers }),
  );
  const noBatch = o.urls.map(() => false);
  let inflight = 0;

  /** @param {number} i @param {string} path @param {string} body @param {number[]} versions @param {number} firedNs */
  function dispatch(i, path, body, versions, firedNs, payloads) {
    const sentNs = o.nowNs();
    o.onRequest(versions.length);
    inflight++;
    pools[i].post(path, body, (err, status, boot) => {
      inflight--;
      const ackNs = o.nowNs();
      if (err) o.onResult([i, FAILED, versions, firedNs, sentNs, ackNs, err.code ?? err.message]);
      else if (status === 200) o.onResult([i, ACKED, versions, firedNs, sentNs, ackNs, boot]);
      else if (status === 404 && versions.length > 1 && !noBatch[i]) {
        noBatch[i] = true;
        for (let k = 0; k < versions.length; k++)
          dispatch(i, '/replicate', payloads[k], [versions[k]], firedNs, [payloads[k]]);
      } else o.onResult([i, FAILED, versions, firedNs, sentNs, ackNs, `${path} answered ${status}`]);
    });
  }

  return {
    /** Requests sent and not yet answered (all followers). */
    get inflight() {
      return inflight;
    },
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
      dispatch(
        i,
        '/replicate/batch',
        `{"entries":[${payloads.join(',')}]}`,
        writes.map((w) => w.version),
        firedNs,
        payloads,
      );
    },
    /** Close every pool, in-flight requests first (bounded by graceMs). */
    async close(graceMs) {
      await Promise.all(pools.map((p) => p.close(graceMs)));
    },
  };
}
