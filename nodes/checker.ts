/**
 * "Nothing lost" checker, in the spirit of Jepsen's set test. Pure: give it the writes clients saw
 * acknowledged (200) and the /data dumps of the nodes, and it reports, per node, every acknowledged
 * write that node no longer holds. A write (key, v) is held when the node stores that key at
 * version v or newer (a later write to the same key legitimately replaces it). Writes with an
 * unknown outcome (503, timeouts, lost connections) may or may not be present; they are only
 * counted, never reported as lost.
 */

export interface CheckedWrite {
  key: string;
  version: number;
  /** When given, the value a node holds at exactly this version must be equal (JSON-wise). */
  value?: unknown;
}

/** A node's GET /data: `{ "<key>": { value, version } }`. */
export type DataDump = Record<string, { value: unknown; version: number }>;

export interface NodeDump {
  /** 'leader', 'follower1', ... */
  name: string;
  data: DataDump;
}

export interface LostWrite {
  key: string;
  version: number;
  /** What the node holds for the key: its version, or null when the key is missing. */
  storedVersion: number | null;
}

export interface NodeCheck {
  name: string;
  /** Acknowledged writes this node does not hold (missing key or an older version). */
  lost: number;
  /** Keys with at least one lost write. */
  lostKeys: number;
  /** Of those, keys the node does not have at all. */
  missingKeys: number;
  /** Acknowledged writes whose version the node holds with another value. */
  corrupted: number;
  /** Unknown-outcome writes this node holds (that version or newer). Informational. */
  unknownPresent: number;
  /** Up to `sampleSize` lost writes, lowest version first. */
  sample: LostWrite[];
}

export interface LostWritesReport {
  acknowledged: number;
  unknownOutcome: number;
  nodes: NodeCheck[];
  /** Sum of `lost` + `corrupted` over the nodes: must be 0. */
  totalLost: number;
  ok: boolean;
}

export interface CheckOptions {
  /** Writes with an unknown outcome (e.g. 503 quorum_not_reached), counted separately. */
  unknownOutcome?: Iterable<CheckedWrite>;
  /** How many lost writes to list per node. Default 10. */
  sampleSize?: number;
}

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** Report acknowledged writes missing from each node. */
export function checkLostWrites(
  acknowledged: Iterable<CheckedWrite>,
  nodes: readonly NodeDump[],
  options: CheckOptions = {},
): LostWritesReport {
  const sampleSize = options.sampleSize ?? 10;
  const acked = [...acknowledged];
  const unknown = [...(options.unknownOutcome ?? [])];
  const report: NodeCheck[] = nodes.map(({ name, data }) => {
    const lostKeys = new Set<string>();
    const missing = new Set<string>();
    const sample: LostWrite[] = [];
    let lost = 0;
    let corrupted = 0;
    for (const w of acked) {
      const e = Object.hasOwn(data, w.key) ? data[w.key] : undefined;
      if (e === undefined || e.version < w.version) {
        lost++;
        lostKeys.add(w.key);
        if (e === undefined) missing.add(w.key);
        sample.push({ key: w.key, version: w.version, storedVersion: e?.version ?? null });
      } else if (e.version === w.version && 'value' in w && !sameJson(e.value, w.value)) {
        corrupted++;
      }
    }
    let unknownPresent = 0;
    for (const w of unknown) {
      const e = Object.hasOwn(data, w.key) ? data[w.key] : undefined;
      if (e !== undefined && e.version >= w.version) unknownPresent++;
    }
    sample.sort((a, b) => a.version - b.version);
    return {
      name,
      lost,
      lostKeys: lostKeys.size,
      missingKeys: missing.size,
      corrupted,
      unknownPresent,
      sample: sample.slice(0, sampleSize),
    };
  });
  const totalLost = report.reduce((s, n) => s + n.lost + n.corrupted, 0);
  return { acknowledged: acked.length, unknownOutcome: unknown.length, nodes: report, totalLost, ok: totalLost === 0 };
}
