/**
 * Main-thread handle of the leader's replication thread (engine-thread.mjs): starts it, hands it
 * each write once (payload serialised once, one delay per follower), tells it which followers are
 * down, and delivers its results (acks, failures, skips) back on the main thread.
 */
import { Worker } from 'node:worker_threads';
import { authHeaders } from '../auth.ts';
import type { SchedulerStrategy } from '../config.ts';
import type { LeaderPriority } from '../priority.ts';
import {
  STAT_BATCHES,
  STAT_ENTRIES,
  STAT_REQUESTS,
  STAT_SLICE_NS,
  STAT_SLOTS,
  STAT_WAITS,
  WAKE,
  type LegResult,
  type ReadyMessage,
  type WriteMessage,
} from './protocol.ts';

const THREAD_URL = new URL('./engine-thread.mjs', import.meta.url);

export interface EngineOptions {
  urls: readonly string[];
  /** Keep-alive connections per follower. */
  connections: number;
  /** Bound on one replication request, ms. */
  timeoutMs: number;
  token?: string;
  /** 'precise': deadline heap + sleeping alarm; 'timeout': one setTimeout per leg (the naive baseline). */
  strategy: SchedulerStrategy;
  /** Priority of the replication threads ('auto': real-time when permitted). */
  priority: LeaderPriority;
  onResults(results: LegResult[]): void;
}

/** Failure of the replication thread itself; `code` is stable. */
export class EngineError extends Error {
  constructor(
    readonly code: 'QL_ERR_ENGINE_REALTIME' | 'QL_ERR_ENGINE_THREAD',
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** `replication` fields of the leader's /stats that describe the thread (contracts in docs/nodes.md). */
export interface EngineStats {
  thread: true;
  /** What the replication threads got: 'realtime' = SCHED_FIFO 1 on them alone. */
  priority: 'realtime' | 'normal' | 'starting';
  reason: string;
  engine: {
    strategy: SchedulerStrategy;
    wanted: LeaderPriority;
    /** Replication requests sent, entries in them, requests carrying more than one entry (since the last reset). */
    requests: number;
    entries: number;
    batches: number;
    /** Sleeps towards a deadline, and the longest one (acks are read at least this often while legs are pending), µs. */
    waits: number;
    sliceUs: number;
  };
}

export class ReplicationEngine {
  /** Resolves once the thread runs (and has its priority); rejects if 'realtime' was required and refused. */
  readonly ready: Promise<ReadyMessage>;
  private readonly worker: Worker;
  private readonly control = new Int32Array(new SharedArrayBuffer(4));
  private readonly down: Int32Array;
  private readonly stats = new Float64Array(new SharedArrayBuffer(STAT_SLOTS * 8));
  private readonly epochNs = process.hrtime.bigint();
  /** The epoch on the shared monotonic clock, µs (contracts/trace.ts monotonicUs()). */
  readonly epochUs = Number(this.epochNs / 1000n);
  private info: ReadyMessage | undefined;
  private failure: string | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: EngineOptions) {
    this.down = new Int32Array(new SharedArrayBuffer(4 * opts.urls.length));
    this.worker = new Worker(THREAD_URL, {
      workerData: {
        urls: opts.urls,
        connections: opts.connections,
        timeoutMs: opts.timeoutMs,
        headers: authHeaders(opts.token),
        strategy: opts.strategy,
        priority: opts.priority,
        epochNs: this.epochNs,
        control: this.control.buffer,
        down: this.down.buffer,
        stats: this.stats.buffer,
      },
      // Plain JS: no loader of the parent (tsx, vitest) is needed or wanted in it.
      execArgv: [],
    });
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (m: LegResult[] | ReadyMessage | { closed?: true; fatal?: string }) => {
        if (Array.isArray(m)) opts.onResults(m);
        else if ('ready' in m) {
          this.info = m;
          if (opts.priority === 'realtime' && m.priority !== 'realtime')
            reject(new EngineError('QL_ERR_ENGINE_REALTIME', `replication thread: ${m.reason}`));
          else resolve(m);
        } else if ('fatal' in m && m.fatal) this.failure = m.fatal;
      });
      this.worker.on('error', (err) => {
        this.failure = err.message;
        reject(new EngineError('QL_ERR_ENGINE_THREAD', `replication thread failed: ${err.message}`));
      });
    });
    this.ready.catch(() => {});
  }

  /** Now, ns since the engine's epoch (the clock the thread compares deadlines with). */
  nowNs(): number {
    return Number(process.hrtime.bigint() - this.epochNs);
  }

  /** Hand one write to the thread: `delaysUs[i]` NaN means no leg to follower i. */
  schedule(version: number, payload: string, scheduledNs: number, delaysUs: number[]): void {
    const msg: WriteMessage = [version, payload, scheduledNs, delaysUs];
    this.worker.postMessage(msg);
    // Wakes the thread at once if it sleeps in a slice (it then takes the message synchronously).
    Atomics.add(this.control, WAKE, 1);
    Atomics.notify(this.control, WAKE, 1);
  }

  setDown(follower: number, isDown: boolean): void {
    Atomics.store(this.down, follower, isDown ? 1 : 0);
  }

  statsJson(): EngineStats {
    const s = this.stats;
    return {
      thread: true,
      priority: this.info?.priority ?? 'starting',
      reason: this.failure ?? this.info?.reason ?? 'starting',
      engine: {
        strategy: this.opts.strategy,
        wanted: this.opts.priority,
        requests: s[STAT_REQUESTS]!,
        entries: s[STAT_ENTRIES]!,
        batches: s[STAT_BATCHES]!,
        waits: s[STAT_WAITS]!,
        sliceUs: s[STAT_SLICE_NS]! / 1000,
      },
    };
  }

  /** Zero the counters (POST /stats/reset); the window stays. A count racing with the reset may survive it. */
  resetStats(): void {
    for (const k of [STAT_REQUESTS, STAT_ENTRIES, STAT_BATCHES, STAT_WAITS]) this.stats[k] = 0;
  }

  /** Kernel thread id of the replication thread (for checks of its priority). */
  get threadIds(): string[] {
    return this.info?.tids ?? [];
  }

  /** Close the follower connections (in-flight requests first, at most graceMs) and stop the thread. */
  close(graceMs: number): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const done = () => void this.worker.terminate().then(() => resolve());
      const hard = setTimeout(done, graceMs + 500);
      this.worker.on('message', (m: { closed?: true }) => {
        if (!Array.isArray(m) && m.closed) {
          clearTimeout(hard);
          done();
        }
      });
      this.worker.on('exit', () => resolve());
      this.worker.postMessage(['close', graceMs]);
      Atomics.add(this.control, WAKE, 1);
      Atomics.notify(this.control, WAKE, 1);
    });
    return this.closing;
  }
}
