/**
 * The leader's per-follower bookkeeping: one FollowerLink each (state, probes, catch-up), how
 * many are up or available, the legs pending per follower and in all, and each follower's
 * ack latency. The replication thread learns of a follower going down through `setDown`.
 */
import { FollowerLink, startProbing, type CatchUpSource, type FollowerState } from '../follower-link.ts';
import { createLatencySummary, type LatencySummary } from '../stats.ts';

export interface FollowersOptions {
  urls: readonly string[];
  replicationTimeoutMs: number;
  token?: string;
  probeTimeoutMs: number;
  snapshotChunkBytes: number;
  probeIntervalMs: number;
  idleProbeMs: number;
  /** Legs scheduled or in flight to one follower beyond which it is taken down. */
  maxPending: number;
  source: CatchUpSource;
  /** Tell the replication thread (1 = skip legs to this follower when they fall due). */
  setDown(follower: number, down: boolean): void;
}

export class Followers {
  readonly links: FollowerLink[];
  readonly ackLatencyUs: LatencySummary[];
  /** Followers not down (up or catching up): they receive live writes and their acks count. */
  available: number;
  up: number;
  /** Legs scheduled or in flight, all followers. */
  pending = 0;
  private idleWaiters: Array<() => void> = [];
  private stopProbing: () => void = () => {};
  private readonly maxPending: number;
  private readonly probeIntervalMs: number;
  private readonly idleProbeMs: number;

  constructor(o: FollowersOptions) {
    this.available = o.urls.length;
    this.up = o.urls.length;
    this.maxPending = o.maxPending;
    this.probeIntervalMs = o.probeIntervalMs;
    this.idleProbeMs = o.idleProbeMs;
    const onStateChange = (link: FollowerLink, from: FollowerState, to: FollowerState) => {
      if (from === 'down') this.available++;
      if (to === 'down') this.available--;
      if (from === 'up') this.up--;
      if (to === 'up') this.up++;
      o.setDown(this.links.indexOf(link), to === 'down');
    };
    this.links = o.urls.map(
      (url) =>
        new FollowerLink({
          url,
          replicationTimeoutMs: o.replicationTimeoutMs,
          token: o.token,
          probeTimeoutMs: o.probeTimeoutMs,
          snapshotChunkBytes: o.snapshotChunkBytes,
          source: o.source,
          onStateChange,
        }),
    );
    this.ackLatencyUs = this.links.map(() => createLatencySummary());
  }

  /** Start the health probes (when the leader starts serving); idempotent. */
  startProbing(): void {
    this.stopProbing();
    this.stopProbing = startProbing(this.links, this.probeIntervalMs, this.idleProbeMs);
  }

  get size(): number {
    return this.links.length;
  }

  /**
   * Whether a new leg to follower i may be scheduled; counts it pending if so. A follower over
   * its backlog (paused or very slow) is taken down: the catch-up covers the rest.
   */
  admit(i: number): boolean {
    const link = this.links[i]!;
    if (link.state === 'down') return false;
    if (link.pending >= this.maxPending) {
      link.markDown(`backlog of ${link.pending} pending replications`);
      return false;
    }
    link.admitLeg();
    this.pending++;
    return true;
  }

  /** A leg left the pending set (acked, failed or skipped at its deadline). */
  settle(i: number): void {
    this.links[i]!.settleLeg();
    if (--this.pending === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Catch-ups in progress count as pending work: quiescent means nothing left to deliver. */
  get pendingWithCatchUps(): number {
    return this.pending + this.links.filter((l) => l.catchingUp).length;
  }

  /** Resolves when nothing is pending, or after boundMs. */
  waitIdle(boundMs: number): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, boundMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  stateCounts() {
    const c = { up: 0, catching_up: 0, down: 0 };
    for (const l of this.links) c[l.state]++;
    return c;
  }

  statsJson(leaderVersion: number) {
    return this.links.map((l, i) => ({ ...l.statsJson(leaderVersion), ackLatencyUs: this.ackLatencyUs[i]!.toJSON() }));
  }

  resetStats(): void {
    for (const s of this.ackLatencyUs) s.reset();
    for (const l of this.links) l.resetCounters();
  }

  async close(graceMs: number): Promise<void> {
    this.stopProbing();
    await Promise.all(this.links.map((l) => l.close(graceMs)));
  }
}
