/**
 * Staleness by value, for clusters whose replies carry no `version` (the seed's Flask design and
 * its many versions). Every write of a step is a pure function of (seed, phase, index), so any
 * thread can rebuild the whole sequence and tell which write a stored value belongs to; its
 * position in the sequence stands in for the version the cluster does not report (warm-up writes
 * first, then the measured ones). Two concurrent writes of one key are ordered by that position,
 * not by the order the leader applied them: with many keys and few clients such pairs are rare.
 */
import { planWrite, type WorkloadConfig } from './workload.ts';

/** Version of `value` stored under `key`: 0 when the key is absent, null when no write of this step wrote it. */
export type ValueVersionOf = (key: string, value: unknown) => number | null;

export interface StepPlan {
  workload: WorkloadConfig;
  warmup: number;
  writes: number;
}

export function createValueVersions(plan: StepPlan): ValueVersionOf {
  let byKey: Map<string, Map<string, number>> | null = null;
  const build = (): Map<string, Map<string, number>> => {
    const map = new Map<string, Map<string, number>>();
    const add = (key: string, value: string, version: number): void => {
      let values = map.get(key);
      if (!values) {
        values = new Map();
        map.set(key, values);
      }
      // The same value written twice to one key (tiny --value-bytes): the later write wins.
      values.set(value, version);
    };
    for (let i = 0; i < plan.warmup; i++) {
      const w = planWrite(plan.workload, 'warmup', i);
      add(w.key, w.value, i + 1);
    }
    for (let i = 0; i < plan.writes; i++) {
      const w = planWrite(plan.workload, 'measure', i);
      add(w.key, w.value, plan.warmup + i + 1);
    }
    return map;
  };
  return (key, value) => {
    if (value === undefined || value === null) return 0;
    if (typeof value !== 'string') return null;
    byKey ??= build();
    return byKey.get(key)?.get(value) ?? null;
  };
}

/** The version of a measured write (index within the measured phase) or a warm-up write, as createValueVersions numbers it. */
export function planVersion(plan: Pick<StepPlan, 'warmup'>, phase: 'warmup' | 'measure', index: number): number {
  return phase === 'warmup' ? index + 1 : plan.warmup + index + 1;
}
