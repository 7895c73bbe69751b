/**
 * Launcher-side HTTP helpers for fault experiments: wait until the leader counts a follower up
 * again with the boot id that follower reports now (so caught up after its latest restart).
 */
import { request } from 'undici';
import type { LeaderStats } from '../contracts/stats.ts';
import { ClusterError } from './cluster.ts';

async function getJson(url: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const res = await request(url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new ClusterError('QL_ERR_UNHEALTHY', `${url} answered ${res.statusCode}`);
  return JSON.parse(text);
}

/**
 * Poll the leader's /stats until `followers[index]` is `up` with the follower's current boot id.
 * Returns the time waited, ms. Rejects with ClusterError QL_ERR_NOT_CAUGHT_UP after timeoutMs.
 */
export async function waitFollowerCaughtUp(
  leaderUrl: string,
  followerUrl: string,
  index: number,
  options: { name?: string; timeoutMs?: number; pollMs?: number } = {},
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const pollMs = options.pollMs ?? 20;
  const name = options.name ?? followerUrl;
  const started = performance.now();
  const maxPolls = Math.ceil(timeoutMs / pollMs) + 1;
  let last = 'no answer yet';
  for (let i = 0; i < maxPolls && performance.now() - started < timeoutMs; i++) {
    try {
      const [health, stats] = (await Promise.all([
        getJson(`${followerUrl}/health`, 2000),
        getJson(`${leaderUrl}/stats`, 2000),
      ])) as [{ bootId?: unknown }, LeaderStats];
      const f = stats.followers?.[index];
      if (f?.state === 'up' && typeof health.bootId === 'string' && f.bootId === health.bootId)
        return performance.now() - started;
      last = `leader sees state ${f?.state}, boot id ${f?.bootId}; follower boot id ${health.bootId}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new ClusterError('QL_ERR_NOT_CAUGHT_UP', `${name} not caught up within ${timeoutMs} ms: ${last}`, name);
}
