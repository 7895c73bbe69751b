/**
 * Runs a parsed fault schedule (faults.ts) against a local cluster during one quorum's measured
 * load, on the main thread, and heals the cluster afterwards.
 *
 * A follower counts as faulted from the moment its kill, pause or restart is issued until the
 * leader counts it `up` again after its restart or resume (waitCaughtUp), so the catch-up belongs
 * to the fault window. The number of faulted followers is published in the shared Int32 slot the
 * client workers read when they send a write; the workers' completed-write count in the other
 * slot is the clock of `%` times.
 */
import { performance } from 'node:perf_hooks';
import { createRng, type Rng } from '../lib/rng.ts';
import { publishFaultCount, SHARED_DONE } from './fault-window.ts';
import { formatFaultTime, type FaultSpec, type FaultTime } from './faults.ts';
import type { PartitionOps } from './partition.ts';

/** The launcher's fault helpers (nodes/cluster.ts RunningCluster). */
export interface FaultOps {
  kill(name: string): Promise<unknown>;
  restart(name: string): Promise<unknown>;
  pause(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  nodeState(name: string): 'running' | 'paused' | 'stopped';
  waitCaughtUp(name: string, options?: { timeoutMs?: number }): Promise<number>;
}

export type FaultCommand = 'kill' | 'pause' | 'restart' | 'resume' | 'partition' | 'unpartition';

/** One command on one follower, as it happened. */
export interface FaultRecord {
  /** The --fault spec it came from; 'heal' for the healing after the load. */
  spec: string;
  command: FaultCommand;
  follower: string;
  phase: 'load' | 'heal';
  /** When it was issued: ms after the measured load started, and measured writes completed by then. */
  atMs: number;
  writesDone: number;
  /** How long the command took (a restart: until the new process answered /health), ms. */
  commandMs: number | null;
  /** restart / resume: ms from the command's completion until the leader counted the follower up again. */
  catchUpMs: number | null;
  error: string | null;
}

export interface FaultReport {
  records: FaultRecord[];
  /** Specs (or their range ends) that never fired because the load ended first. */
  notFired: string[];
  /** Measured-load time during which at least one follower was faulted, ms. */
  faultWindowMs: number;
  /** Longest catch-up after a restart or resume (load and healing), ms; null when none happened. */
  recoveryMs: number | null;
  /** Every follower was running and caught up after healing. */
  healed: boolean;
}

interface PlannedEvent {
  spec: number;
  end: boolean;
  time: FaultTime;
}

export interface FaultScheduleOptions {
  specs: readonly FaultSpec[];
  followers: readonly string[];
  ops: FaultOps;
  /** Needed when a spec is a partition (harness/partition.ts). */
  partitions?: PartitionOps;
  /** Int32Array over the SharedArrayBuffer given to the client workers. */
  shared: Int32Array;
  /** Measured writes of the step, for `%` times. */
  writes: number;
  /** Seed of the random target choices (the same for every quorum, so every W sees the same faults). */
  seed: number;
  /** Bound on each wait for a follower to be caught up, ms. */
  catchUpTimeoutMs: number;
  onWarning?: (message: string) => void;
  /** A fault window opens (true) or closes (false) during the load: the experiment samples the leader's stats then. */
  onWindowChange?: (faulted: boolean) => void;
  /** Poll period of the schedule's clock, ms. */
  pollMs?: number;
}

export interface FaultSchedule {
  /** Time zero: the measured load has just started. */
  start(): void;
  /** The load is over: cancel what has not fired, wait for commands in flight, restart and resume, wait for catch-up. */
  heal(): Promise<FaultReport>;
  /** Stop firing (the step failed; the cluster is about to be stopped anyway). */
  cancel(): void;
}

function errorText(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}

export function createFaultSchedule(o: FaultScheduleOptions): FaultSchedule {
  const rng: Rng = createRng(o.seed);
  const pollMs = o.pollMs ?? 1;
  const records: FaultRecord[] = [];
  const events: PlannedEvent[] = o.specs.flatMap((s, i) => [
    { spec: i, end: false, time: s.at },
    ...(s.until ? [{ spec: i, end: true, time: s.until }] : []),
  ]);
  /** Followers each spec's start acted on, for its range end. */
  const picked = new Map<number, string[]>();
  /** Faulted followers, with a generation so an old recovery does not end a newer fault. */
  const faulted = new Map<string, number>();
  let generation = 0;
  const touched = new Set<string>();
  const commands: Promise<unknown>[] = [];
  const recoveries: Promise<unknown>[] = [];
  let t0 = 0;
  let loadEnded = false;
  let windowStart: number | null = null;
  let windowMs = 0;
  let timer: NodeJS.Timeout | undefined;

  const now = (): number => performance.now() - t0;
  const done = (): number => Atomics.load(o.shared, SHARED_DONE);

  function publish(): void {
    publishFaultCount(o.shared, faulted.size);
    if (loadEnded) return;
    if (faulted.size > 0 && windowStart === null) {
      windowStart = now();
      o.onWindowChange?.(true);
    } else if (faulted.size === 0 && windowStart !== null) {
      windowMs += now() - windowStart;
      windowStart = null;
      o.onWindowChange?.(false);
    }
  }

  function beginFault(name: string): number {
    touched.add(name);
    const g = ++generation;
    faulted.set(name, g);
    publish();
    return g;
  }

  function endFault(name: string, g: number): void {
    if (faulted.get(name) !== g) return;
    faulted.delete(name);
    publish();
  }

  function record(spec: string, command: FaultCommand, follower: string, phase: 'load' | 'heal'): FaultRecord {
    const r: FaultRecord = { spec, command, follower, phase, atMs: Math.round(now()), writesDone: done(), commandMs: null, catchUpMs: null, error: null };
    records.push(r);
    return r;
  }

  function run(command: FaultCommand, follower: string): Promise<unknown> {
    switch (command) {
      case 'kill':
        return o.ops.kill(follower);
      case 'pause':
        return o.ops.pause(follower);
      case 'resume':
        return o.ops.resume(follower);
      case 'restart':
        return o.ops.restart(follower);
      case 'partition':
        return o.partitions ? o.partitions.partition(follower) : Promise.reject(new Error('no partition support'));
      case 'unpartition':
        return o.partitions ? o.partitions.heal(follower) : Promise.resolve();
    }
  }

  /** Issue one command; restart, resume and unpartition then wait for the catch-up, which ends the fault. */
  function issue(spec: string, command: FaultCommand, follower: string, phase: 'load' | 'heal'): Promise<void> {
    const r = record(spec, command, follower, phase);
    const ending = command === 'resume' || command === 'unpartition';
    const g = ending ? (faulted.get(follower) ?? beginFault(follower)) : beginFault(follower);
    const startedAt = performance.now();
    const op = run(command, follower);
    const settled = op.then(
      () => {
        r.commandMs = Math.round(performance.now() - startedAt);
        return true;
      },
      (err: unknown) => {
        r.commandMs = Math.round(performance.now() - startedAt);
        r.error = errorText(err);
        o.onWarning?.(`fault ${spec}: ${command} ${follower} failed: ${r.error}`);
        return false;
      },
    );
    commands.push(settled);
    if (command !== 'restart' && !ending) return settled.then(() => undefined);
    const recovery = settled.then(async (ok) => {
      if (!ok) return;
      try {
        r.catchUpMs = Math.round(await o.ops.waitCaughtUp(follower, { timeoutMs: o.catchUpTimeoutMs }));
        endFault(follower, g);
      } catch (err) {
        r.error = errorText(err);
        o.onWarning?.(`fault ${spec}: ${follower} was not caught up after its ${command}: ${r.error}`);
      }
    });
    recoveries.push(recovery);
    return recovery;
  }

  /** n distinct followers from `candidates` (in preference groups, each shuffled with the seeded RNG). */
  function choose(groups: string[][], n: number): string[] {
    const out: string[] = [];
    for (const group of groups) {
      const pool = [...group];
      while (pool.length > 0 && out.length < n) out.push(pool.splice(rng.int(pool.length), 1)[0]!);
    }
    return out;
  }

  function targets(spec: FaultSpec): string[] {
    if (spec.target.kind === 'name') return [spec.target.name];
    const n = spec.target.count;
    const running = o.followers.filter((f) => !faulted.has(f) && o.ops.nodeState(f) === 'running');
    let chosen: string[];
    if (spec.action === 'restart') {
      // Bring back what is down first; only then crash-restart running followers.
      const stopped = o.followers.filter((f) => o.ops.nodeState(f) === 'stopped');
      chosen = choose([stopped, running], n);
    } else chosen = choose([running], n);
    if (chosen.length < n) o.onWarning?.(`fault ${spec.text}: only ${chosen.length} of ${n} followers were available`);
    return chosen;
  }

  function fire(e: PlannedEvent): void {
    const spec = o.specs[e.spec]!;
    if (e.end) {
      const command: FaultCommand = spec.action === 'pause' ? 'resume' : spec.action === 'partition' ? 'unpartition' : 'restart';
      for (const f of picked.get(e.spec) ?? []) void issue(spec.text, command, f, 'load');
      return;
    }
    const chosen = targets(spec);
    picked.set(e.spec, chosen);
    for (const f of chosen) void issue(spec.text, spec.action, f, 'load');
  }

  const due = (t: FaultTime): boolean => (t.unit === 'ms' ? now() >= t.value : done() >= Math.ceil((t.value / 100) * o.writes));

  function tick(): void {
    // Events fire in spec order when several are due at once; a range end never before its start.
    for (let i = 0; i < events.length; ) {
      const e = events[i]!;
      const startPending = e.end && events.some((x) => x.spec === e.spec && !x.end);
      if (!startPending && due(e.time)) {
        events.splice(i, 1);
        fire(e);
      } else i++;
    }
    if (events.length > 0 && !loadEnded) timer = setTimeout(tick, pollMs);
  }

  return {
    start() {
      t0 = performance.now();
      tick();
    },
    cancel() {
      if (timer) clearTimeout(timer);
      // A partition rule must never outlive the run, whatever ended it.
      o.partitions?.healAllSync();
      loadEnded = true;
      events.length = 0;
    },
    async heal() {
      if (timer) clearTimeout(timer);
      if (windowStart !== null) windowMs += now() - windowStart;
      windowStart = null;
      loadEnded = true;
      const notFired = events.map((e) => {
        const s = o.specs[e.spec]!;
        return e.end ? `${s.text} (end at ${formatFaultTime(e.time)})` : s.text;
      });
      for (const n of notFired) o.onWarning?.(`fault ${n} did not fire: the load ended first`);
      events.length = 0;
      await Promise.all(commands);
      for (const f of o.partitions?.active() ?? []) void issue('heal', 'unpartition', f, 'heal');
      for (const f of touched) {
        let state: 'running' | 'paused' | 'stopped';
        try {
          state = o.ops.nodeState(f);
        } catch {
          continue;
        }
        if (state === 'stopped') void issue('heal', 'restart', f, 'heal');
        else if (state === 'paused') void issue('heal', 'resume', f, 'heal');
      }
      // Recoveries may be appended while earlier ones settle.
      for (let i = 0; i < recoveries.length; i++) await recoveries[i];
      await Promise.all(commands);
      // A follower whose fault never reached a restart or resume (e.g. a failed kill) must still be up.
      const unsettled = [...touched].filter((f) => faulted.has(f));
      const healed = await Promise.all(
        unsettled.map(async (f) => {
          try {
            await o.ops.waitCaughtUp(f, { timeoutMs: o.catchUpTimeoutMs });
            faulted.delete(f);
            return true;
          } catch (err) {
            o.onWarning?.(`healing: ${f} is not caught up: ${errorText(err)}`);
            return false;
          }
        }),
      );
      publishFaultCount(o.shared, faulted.size);
      const catchUps = records.flatMap((r) => (r.catchUpMs === null ? [] : [r.catchUpMs]));
      return {
        records,
        notFired,
        faultWindowMs: Math.round(windowMs),
        recoveryMs: catchUps.length > 0 ? Math.max(...catchUps) : null,
        healed: healed.every(Boolean) && faulted.size === 0,
      };
    },
  };
}
