/**
 * Leader → follower replication messages (issue 13). Defined once: the leader's engine writes
 * them, the follower parses them.
 *
 * - Single form (the seed's): `POST /replicate` `{"key","value","version"}` → 200
 *   `{"status":"success","applied":true|false}`. Stays, for foreign leaders and tests.
 * - Batch form: `POST /replicate/batch` `{"entries":[{"key","value","version","trace"?:1}, ...]}`
 *   → 200 `{"status":"success","applied":n,"ignored":m}`. Every entry follows the newer-version
 *   rule on its own; a 200 acknowledges every entry of the batch. A bad entry → 400 naming its
 *   index, and nothing of the batch is applied. The leader coalesces the messages to one
 *   follower that fall due in the same wake-up into one batch.
 *
 * Both answers carry the follower's boot id in BOOT_ID_HEADER (nodes/http-util.ts).
 */
export const REPLICATE_PATH = '/replicate';
export const REPLICATE_BATCH_PATH = '/replicate/batch';

export interface ReplicationEntry {
  key: string;
  value: unknown;
  version: number;
  /** 1: record this entry's arrival and apply time in the follower's trace ring (contracts/trace.ts). */
  trace?: 1;
}

export interface BatchAck {
  status: 'success';
  applied: number;
  ignored: number;
}
