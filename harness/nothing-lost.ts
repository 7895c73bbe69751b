/**
 * The nothing-lost check (Jepsen's set test): every write a client saw acknowledged must be held,
 * at that version or a newer one, by the leader and, after healing and quiescence, by every
 * follower. The workers hand over the highest acknowledged version per key; nodes/checker.ts does
 * the comparison.
 */
import { checkLostWrites, type CheckedWrite } from '../nodes/checker.ts';
import type { AckedEntry } from './client.ts';
import type { DataDump } from './convergence.ts';

export interface NodeLoss {
  name: string;
  /** Acknowledged writes this node does not hold (missing key or older version). */
  lost: number;
  /** Acknowledged versions it holds with another value. */
  corrupted: number;
  missingKeys: number;
  /** A few lost writes: key, acknowledged version, version held (null = key missing). */
  sample: { key: string; version: number; storedVersion: number | null }[];
}

export interface LostWritesSummary {
  /** Keys checked: one acknowledged (highest) version each. */
  checkedKeys: number;
  /** lost + corrupted over all nodes: must be 0. */
  lost: number;
  /** Writes whose outcome the clients could not know (503 after a version was assigned, timeouts, lost connections). */
  unknownOutcome: number;
  /**
   * 'versions': every node holds each acknowledged write or a newer one. 'presence' (a cluster without
   * versions): every node holds each acknowledged key with a value this step wrote; which write is newest
   * cannot be told when two clients wrote the key at once, so an older one winning is not counted as lost.
   */
  check?: 'versions' | 'presence';
  nodes: NodeLoss[];
}

/** Highest acknowledged version per key over every worker. */
export function mergeAcked(perWorker: readonly (readonly AckedEntry[])[]): CheckedWrite[] {
  const best = new Map<string, CheckedWrite>();
  for (const entries of perWorker) {
    for (const [key, version, value] of entries) {
      const cur = best.get(key);
      if (cur === undefined || cur.version < version) best.set(key, { key, version, value });
    }
  }
  return [...best.values()];
}

/**
 * The presence-only form of the check (see LostWritesSummary.check): every acknowledged write counts
 * as version 1, and so does every stored value some write of this step wrote (version >= 1, from
 * value-versions.ts) while a value no write of this step wrote keeps -1 and counts as lost.
 */
export function checkPresence(
  acked: readonly CheckedWrite[],
  dumps: readonly DataDump[],
  names: readonly string[],
  unknownOutcome: number,
): LostWritesSummary {
  const ackedValue = new Map(acked.map((w) => [w.key, w.value]));
  const present = dumps.map((d) =>
    Object.fromEntries(
      Object.entries(d).map(([key, e]) => [
        key,
        e.version >= 1 && ackedValue.has(key) ? { value: ackedValue.get(key), version: 1 } : e,
      ]),
    ),
  );
  const summary = checkNothingLost(
    acked.map((w) => ({ ...w, version: 1 })),
    present,
    names,
    unknownOutcome,
  );
  return { ...summary, check: 'presence' };
}

export function checkNothingLost(
  acked: readonly CheckedWrite[],
  dumps: readonly DataDump[],
  names: readonly string[],
  unknownOutcome: number,
): LostWritesSummary {
  const report = checkLostWrites(
    acked,
    dumps.map((data, i) => ({ name: names[i] ?? `node${i}`, data })),
    { sampleSize: 5 },
  );
  return {
    checkedKeys: report.acknowledged,
    lost: report.totalLost,
    unknownOutcome,
    nodes: report.nodes.map((n) => ({
      name: n.name,
      lost: n.lost,
      corrupted: n.corrupted,
      missingKeys: n.missingKeys,
      sample: n.sample,
    })),
  };
}
