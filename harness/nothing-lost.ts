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

export function checkNothingLost(
  acked: readonly CheckedWrite[],
  dumps: readonly DataDump[],
  names: readonly string[],
  unknownOutcome: number,
): LostWritesSummary {
  const report = checkLostWrites(acked, dumps.map((data, i) => ({ name: names[i] ?? `node${i}`, data })), { sampleSize: 5 });
  return {
    checkedKeys: report.acknowledged,
    lost: report.totalLost,
    unknownOutcome,
    nodes: report.nodes.map((n) => ({ name: n.name, lost: n.lost, corrupted: n.corrupted, missingKeys: n.missingKeys, sample: n.sample })),
  };
}
