/**
 * The leader's view of one follower: its control connections, its state (up / down / catching_up),
 * a light /health probe, and catch-up by snapshot after an outage or a restart.
 *
 * State machine:
 *   up ──(replication or probe failure, backlog over the cap)──▶ down
 *   down ──(probe answers)──▶ catching_up ──(every snapshot chunk acked)──▶ up
 *   up | catching_up ──(new boot id seen on an ack or probe: it restarted empty)──▶ catching_up (from scratch)
 *   catching_up ──(any failure)──▶ down
 * While down, the leader sends it no live writes (they count as failed for their quorum); the
 * snapshot covers them. While catching up, live writes are sent again, so everything written
 * after the snapshot started reaches it live and everything before is in the snapshot.
 */
import { Pool } from 'undici';
import { authHeaders } from './auth.ts';
import { BOOT_ID_HEADER } from './http-util.ts';
import type { Entry } from './store.ts';

export type FollowerState = 'up' | 'down' | 'catching_up';

/** What a catch-up copies: the leader's store (live iterator) and its current version. */
export interface CatchUpSource {
  entries(): Iterator<[string, Entry]>;
  readonly size: number;
  readonly version: number;
}

export interface FollowerLinkOptions {
  url: string;
  /** Bound on one replication or snapshot request (connect, headers, body), ms. */
  replicationTimeoutMs: number;
  /** Bearer token sent on /replicate and /snapshot (optional). */
  token?: string;
  /** Bound on one /health probe, ms. */
  probeTimeoutMs: number;
  /** Target size of one /snapshot request, bytes (a single larger entry is sent alone). */
  snapshotChunkBytes: number;
  source: CatchUpSource;
  onStateChange(link: FollowerLink, from: FollowerState, to: FollowerState): void;
}

export interface CatchUpRecord {
  ms: number;
  entries: number;
  bytes: number;
  chunks: number;
  /** Leader version when the snapshot started. */
  version: number;
}

/** A failure or refusal, with the reason shown in /stats `lastError`. */
export class ReplicationError extends Error {
  constructor(
    readonly code: 'http_status' | 'boot_changed' | 'closed',
    message: string,
  ) {
    super(message);
    this.name = 'ReplicationError';
  }
}

export class FollowerLink {
  readonly url: string;
  /** Probes and snapshots (live replication has its own connections in the replication thread). */
  private readonly control: Pool;
  private readonly snapshotHeaders: Record<string, string>;
  private readonly opts: FollowerLinkOptions;

  /** What /stats reports per follower since the last reset: live legs and catch-ups. */
  private readonly counts = {
    acked: 0,
    failed: 0,
    /** Live writes not sent because the follower was down or over its backlog (included in `failed`). */
    skipped: 0,
    transitions: 0,
    restarts: 0,
    catchUps: 0,
    catchUpFailures: 0,
    catchUpMsSum: 0,
    catchUpMsMax: 0,
  };
  /** Legs scheduled or in flight. */
  private pendingLegs = 0;
  /** Highest version the follower acked or received in a snapshot (0 after it restarted empty). */
  private ackedVersion = 0;
  private current: FollowerState = 'up';
  /** Bumped on every state change: a probe or catch-up started in an earlier epoch is stale. */
  private epoch = 0;
  /**
   * Bumped when a catch-up starts. A live replication sent in an earlier generation is covered by
   * that snapshot, so its late failure does not take the follower down again; one sent since
   * (catching up, or up afterwards) is not covered, so its failure must.
   */
  private catchUpGeneration = 0;
  private lastError: string | null = null;
  private lastErrorAt: string | null = null;
  /** Boot id last seen (follower /health or x-boot-id); a change means it restarted empty. */
  private bootId: string | undefined;
  private lastContactMs = -Infinity;
  private probing = false;
  private closed = false;
  private lastCatchUp: CatchUpRecord | null = null;

  constructor(opts: FollowerLinkOptions) {
    this.opts = opts;
    this.url = opts.url;
    const t = opts.replicationTimeoutMs;
    this.control = new Pool(opts.url, {
      connections: 2,
      pipelining: 1,
      keepAliveTimeout: 10_000,
      connectTimeout: t,
      headersTimeout: t,
      bodyTimeout: t,
    });
    this.snapshotHeaders = { 'content-type': 'application/json', ...authHeaders(opts.token) };
  }

  get state(): FollowerState {
    return this.current;
  }

  get catchingUp(): boolean {
    return this.current === 'catching_up';
  }

  get pending(): number {
    return this.pendingLegs;
  }

  /** The generation a leg sent now belongs to (see catchUpGeneration). */
  get generation(): number {
    return this.catchUpGeneration;
  }

  /** A leg was scheduled to this follower. */
  admitLeg(): void {
    this.pendingLegs++;
  }

  /** A leg left the pending set (acked, failed or skipped at its deadline). */
  settleLeg(): void {
    this.pendingLegs--;
  }

  countAck(version: number): void {
    this.counts.acked++;
    if (version > this.ackedVersion) this.ackedVersion = version;
  }

  /** A leg that did not reach the follower; `skipped` when it was not even sent. */
  countFailure(skipped: boolean): void {
    this.counts.failed++;
    if (skipped) this.counts.skipped++;
  }

  private setState(to: FollowerState): void {
    const from = this.current;
    this.epoch++;
    if (from === to) return;
    this.current = to;
    this.counts.transitions++;
    this.opts.onStateChange(this, from, to);
  }

  private noteError(reason: string): void {
    this.lastError = reason;
    this.lastErrorAt = new Date().toISOString();
  }

  /** A live replication sent in `generation` failed. Only a current-generation failure takes the follower down. */
  replicationFailed(generation: number, reason: string): void {
    this.noteError(reason);
    if (generation === this.catchUpGeneration && this.state !== 'down') this.setState('down');
  }

  /** Take the follower down now (backlog over the cap, failed probe). */
  markDown(reason: string): void {
    this.noteError(reason);
    if (this.state !== 'down') this.setState('down');
  }

  /** A live ack: note the contact, and spot a restart from its boot id. Hot path: keep it tiny. */
  noteAck(nowMs: number, bootHeader: string | string[] | undefined): void {
    this.lastContactMs = nowMs;
    if (typeof bootHeader === 'string' && bootHeader !== this.bootId) this.sawBootId(bootHeader);
  }

  private sawBootId(id: string): void {
    if (this.bootId === undefined) {
      this.bootId = id;
      return;
    }
    if (id === this.bootId) return;
    // It restarted with an empty store: whatever it acked before is gone.
    this.bootId = id;
    this.counts.restarts++;
    this.ackedVersion = 0;
    this.noteError('restarted (new boot id)');
    if (this.state !== 'down') this.startCatchUp();
  }

  /** One /health probe, unless one is running or a catch-up is in progress. */
  probe(): void {
    if (this.probing || this.closed || this.state === 'catching_up') return;
    this.probing = true;
    const epoch = this.epoch;
    this.control
      .request({
        path: '/health',
        method: 'GET',
        headersTimeout: this.opts.probeTimeoutMs,
        bodyTimeout: this.opts.probeTimeoutMs,
      })
      .then(async ({ statusCode, body }) => {
        const text = await body.text();
        if (statusCode !== 200) throw new ReplicationError('http_status', `probe: /health answered ${statusCode}`);
        let bootId: unknown;
        try {
          bootId = (JSON.parse(text) as { bootId?: unknown }).bootId;
        } catch {
          /* a follower without boot ids */
        }
        return typeof bootId === 'string' ? bootId : undefined;
      })
      .then(
        (bootId) => {
          this.probing = false;
          if (this.closed) return;
          this.lastContactMs = performance.now();
          if (bootId !== undefined) this.sawBootId(bootId);
          if (this.state === 'down') this.startCatchUp();
        },
        (err: Error) => {
          this.probing = false;
          if (this.closed) return;
          if (epoch === this.epoch && this.state === 'up') this.markDown(`probe: ${err.message}`);
          else this.noteError(`probe: ${err.message}`);
        },
      );
  }

  /** Copy the leader's store to the follower, then count it up again. A new call supersedes a running one. */
  startCatchUp(): void {
    if (this.closed) return;
    // Set before the snapshot starts: every write from now on is also sent live.
    this.catchUpGeneration++;
    this.setState('catching_up');
    const epoch = this.epoch;
    const started = performance.now();
    this.runCatchUp(epoch).then(
      (rec) => {
        if (epoch !== this.epoch || this.closed) return;
        rec.ms = performance.now() - started;
        this.counts.catchUps++;
        this.counts.catchUpMsSum += rec.ms;
        if (rec.ms > this.counts.catchUpMsMax) this.counts.catchUpMsMax = rec.ms;
        this.lastCatchUp = rec;
        if (rec.version > this.ackedVersion) this.ackedVersion = rec.version;
        this.lastContactMs = performance.now();
        this.setState('up');
      },
      (err: Error) => {
        if (epoch !== this.epoch || this.closed) return;
        this.counts.catchUpFailures++;
        this.markDown(`catch-up: ${err.message}`);
      },
    );
  }

  private async runCatchUp(epoch: number): Promise<CatchUpRecord> {
    const { source, snapshotChunkBytes } = this.opts;
    const rec: CatchUpRecord = { ms: 0, entries: 0, bytes: 0, chunks: 0, version: source.version };
    const bootAtStart = this.bootId;
    // Keys present now come first in the live iterator (no deletions); later keys go out live.
    let remaining = source.size;
    const it = source.entries();
    let batch: string[] = [];
    let batchBytes = 0;
    const flush = async () => {
      const body = `{"entries":[${batch.join(',')}]}`;
      rec.chunks++;
      rec.entries += batch.length;
      rec.bytes += Buffer.byteLength(body);
      batch = [];
      batchBytes = 0;
      const {
        statusCode,
        headers,
        body: resBody,
      } = await this.control.request({
        path: '/snapshot',
        method: 'POST',
        headers: this.snapshotHeaders,
        body,
      });
      const text = await resBody.text();
      if (statusCode !== 200)
        throw new ReplicationError('http_status', `/snapshot answered ${statusCode}: ${text.slice(0, 120)}`);
      const boot = headers[BOOT_ID_HEADER];
      if (typeof boot === 'string' && bootAtStart !== undefined && boot !== bootAtStart) {
        // Restarted during the snapshot: start over against the new, empty store.
        this.sawBootId(boot);
        throw new ReplicationError('boot_changed', 'follower restarted during catch-up');
      }
      if (typeof boot === 'string' && this.bootId === undefined) this.bootId = boot;
      if (epoch !== this.epoch || this.closed) throw new ReplicationError('closed', 'catch-up superseded');
    };
    while (remaining-- > 0) {
      const next = it.next();
      if (next.done) break;
      const [key, e] = next.value;
      const item = JSON.stringify({ key, value: e.value, version: e.version });
      const itemBytes = Buffer.byteLength(item) + 1;
      if (batch.length > 0 && batchBytes + itemBytes > snapshotChunkBytes) await flush();
      batch.push(item);
      batchBytes += itemBytes;
    }
    // Always at least one request, even when empty: it confirms the follower answers with its boot id.
    if (batch.length > 0 || rec.chunks === 0) await flush();
    return rec;
  }

  statsJson(leaderVersion: number) {
    const c = this.counts;
    return {
      url: this.url,
      state: this.current,
      transitions: c.transitions,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      bootId: this.bootId ?? null,
      restarts: c.restarts,
      acked: c.acked,
      failed: c.failed,
      skipped: c.skipped,
      pending: this.pendingLegs,
      ackedVersion: this.ackedVersion,
      lagVersions: leaderVersion - this.ackedVersion,
      catchUps: c.catchUps,
      catchUpFailures: c.catchUpFailures,
      catchUpMs: {
        count: c.catchUps,
        mean: c.catchUps ? round3(c.catchUpMsSum / c.catchUps) : 0,
        max: round3(c.catchUpMsMax),
      },
      lastCatchUp: this.lastCatchUp && { ...this.lastCatchUp, ms: round3(this.lastCatchUp.ms) },
    };
  }

  resetCounters(): void {
    for (const k of Object.keys(this.counts) as Array<keyof typeof this.counts>) this.counts[k] = 0;
  }

  /** Probe when down, or when up and silent for `idleProbeMs` (a silent restart or a pause without traffic). */
  probeIfDue(nowMs: number, idleProbeMs: number): void {
    if (this.current === 'down' || (this.current === 'up' && nowMs - this.lastContactMs >= idleProbeMs)) this.probe();
  }

  /** Stop probing and catching up; close the control pool (bounded by `graceMs`). */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    this.epoch++;
    await Promise.all(
      [this.control].map((p) =>
        Promise.race([p.close().catch(() => {}), new Promise((r) => setTimeout(r, graceMs))]).then(() =>
          p.destroy().catch(() => {}),
        ),
      ),
    );
  }
}

/**
 * Probe every `intervalMs`: followers that are down on every tick, followers that are up when
 * nothing was heard from them for `idleProbeMs` (spots a silent restart or a pause without
 * traffic). The first tick runs at once. Returns a stop function. The timer is unref'd.
 */
export function startProbing(links: readonly FollowerLink[], intervalMs: number, idleProbeMs: number): () => void {
  if (intervalMs <= 0) return () => {};
  const tick = () => {
    const now = performance.now();
    for (const l of links) l.probeIfDue(now, idleProbeMs);
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
