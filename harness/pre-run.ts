/**
 * Before an external step's load: what state the cluster is in, and (on nodes of ours) a clean one.
 * Keys where a follower already differs from the leader are named, so a divergence left by an
 * earlier experiment or a curl example is not blamed on this run. Where the nodes have
 * POST /admin/reset (ours), every store is emptied so every W starts from the same state.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isAbsent } from './capabilities.ts';
import type { ClusterTarget } from './cluster-target.ts';
import { ControlError } from './control.ts';
import { differingKeys, readDumps } from './convergence.ts';
import type { ValueVersionOf } from './value-versions.ts';

export interface PreRunState {
  /** Per follower, a few keys that differed from the leader before the step; null when the stores were reset (nothing predates the run). */
  preRunDifferingKeys: string[][] | null;
  /** The stores were emptied with POST /admin/reset. */
  storeReset: boolean;
}

/**
 * Empty every store: the leader first (it refuses while replication is pending, so it is retried
 * until idle or the timeout), then the followers. False when the nodes have no such endpoint.
 */
export async function resetStores(target: ClusterTarget, timeoutMs: number): Promise<boolean> {
  const started = Date.now();
  for (;;) {
    try {
      await target.control.sendJson('POST', target.leaderUrl, '/admin/reset');
      break;
    } catch (err) {
      if (isAbsent(err)) return false;
      const busy = err instanceof ControlError && err.status === 409;
      if (!busy || Date.now() - started >= timeoutMs) throw err;
      await sleep(50);
    }
  }
  await Promise.all(target.followerUrls.map((u) => target.control.sendJson('POST', u, '/admin/reset')));
  return true;
}

export async function prepareExternalStep(
  target: ClusterTarget,
  valueVersionOf: ValueVersionOf,
  timeoutMs: number,
  warn: (message: string) => void,
): Promise<PreRunState> {
  const [leader, ...followers] = await readDumps(
    target.control,
    [target.leaderUrl, ...target.followerUrls],
    valueVersionOf,
  );
  const keys = followers.map((f) => differingKeys(leader!, f));
  const storeReset = await resetStores(target, timeoutMs);
  const named = keys.flatMap((k, i) => (k.length > 0 ? [`${target.followerNames[i]} (${k.join(', ')})`] : []));
  if (named.length > 0) {
    const fate = storeReset ? 'cleared by the store reset before the load' : 'this predates the run';
    warn(`W=${target.quorum}: before the load, replicas already differ from the leader: ${named.join('; ')}; ${fate}`);
  }
  return { preRunDifferingKeys: storeReset ? null : keys, storeReset };
}
