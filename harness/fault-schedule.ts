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

type Phase = 'load' | 'heal';

/**
 * Which followers are faulted now, and for how long of the load at least one was. Each fault has a
 * generation so an old recovery does not end a newer fault.
 */
interface FaultTracker {
  begin(name: string): number;
  end(name: string, generation: number): void;
  /** The generation of the follower's open fault, if any. */
  current(name: string): number | undefined;
  isFaulted(name: string): boolean;
  /** Followers that were faulted at some point. */
  touched: ReadonlySet<string>;
  /** The load is over: close the open window, stop reporting window changes. */
  endLoad(): void;
  /** A follower caught up outside a recovery (healing). */
  clear(name: string): void;
  count(): number;
  windowMs(): number;
}

function createFaultTracker(o: FaultScheduleOptions, now: () => number): FaultTracker {
  const faulted = new Map<string, number>();
  const touched = new Set<string>();
  let generation = 0;
  let loadEnded = false;
  let windowStart: number | null = null;
  let windowMs = 0;

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

  return {
    begin(name) {
      touched.add(name);
      const g = ++generation;
      faulted.set(name, g);
      publish();
      return g;
    },
    end(name, g) {
      if (faulted.get(name) !== g) return;
      faulted.delete(name);
      publish();
    },
    current: (name) => faulted.get(name),
    isFaulted: (name) => faulted.has(name),
    touched,
    endLoad() {
      if (windowStart !== null) windowMs += now() - windowStart;
      windowStart = null;
      loadEnded = true;
    },
    clear: (name) => void faulted.delete(name),
    count: () => faulted.size,
    windowMs: () => windowMs,
  };
}

function runCommand(o: FaultScheduleOptions, command: FaultCommand, follower: string): Promise<unknown> {
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

/** n distinct followers from preference groups, each shuffled with the seeded RNG. */
function choose(rng: Rng, groups: string[][], n: number): string[] {
  const out: string[] = [];
  for (const group of groups) {
    const pool = [...group];
    while (pool.length > 0 && out.length < n) out.push(pool.splice(rng.int(pool.length), 1)[0]!);
  }
  return out;
}

function pickTargets(o: FaultScheduleOptions, rng: Rng, tracker: FaultTracker, spec: FaultSpec): string[] {
  if (spec.target.kind === 'name') return [spec.target.name];
  const n = spec.target.count;
  const running = o.followers.filter((f) => !tracker.isFaulted(f) && o.ops.nodeState(f) === 'running');
  // A restart brings back what is down first; only then crash-restarts running followers.
  const groups =
    spec.action === 'restart' ? [o.followers.filter((f) => o.ops.nodeState(f) === 'stopped'), running] : [running];
  const chosen = choose(rng, groups, n);
  if (chosen.length < n) o.onWarning?.(`fault ${spec.text}: only ${chosen.length} of ${n} followers were available`);
  return chosen;
}

/** Issues commands and keeps what happened: the records, the commands in flight and the recoveries. */
interface FaultIssuer {
  issue(spec: string, command: FaultCommand, follower: string, phase: Phase): Promise<void>;
  records: FaultRecord[];
  commands: Promise<unknown>[];
  recoveries: Promise<unknown>[];
}

function createIssuer(o: FaultScheduleOptions, tracker: FaultTracker, now: () => number): FaultIssuer {
  const records: FaultRecord[] = [];
  const commands: Promise<unknown>[] = [];
  const recoveries: Promise<unknown>[] = [];

  function settle(r: FaultRecord, startedAt: number, op: Promise<unknown>): Promise<boolean> {
    return op.then(
      () => {
        r.commandMs = Math.round(performance.now() - startedAt);
        return true;
      },
      (err: unknown) => {
        r.commandMs = Math.round(performance.now() - startedAt);
        r.error = errorText(err);
        o.onWarning?.(`fault ${r.spec}: ${r.command} ${r.follower} failed: ${r.error}`);
        return false;
      },
    );
  }

  async function recover(r: FaultRecord, g: number, ok: boolean): Promise<void> {
    if (!ok) return;
    try {
      r.catchUpMs = Math.round(await o.ops.waitCaughtUp(r.follower, { timeoutMs: o.catchUpTimeoutMs }));
      tracker.end(r.follower, g);
    } catch (err) {
      r.error = errorText(err);
      o.onWarning?.(`fault ${r.spec}: ${r.follower} was not caught up after its ${r.command}: ${r.error}`);
    }
  }

  /** Issue one command; restart, resume and unpartition then wait for the catch-up, which ends the fault. */
  function issue(spec: string, command: FaultCommand, follower: string, phase: Phase): Promise<void> {
    const r: FaultRecord = {
      spec,
      command,
      follower,
      phase,
      atMs: Math.round(now()),
      writesDone: Atomics.load(o.shared, SHARED_DONE),
      commandMs: null,
      catchUpMs: null,
      error: null,
    };
    records.push(r);
    const ending = command === 'resume' || command === 'unpartition';
    const g = ending ? (tracker.current(follower) ?? tracker.begin(follower)) : tracker.begin(follower);
    const startedAt = performance.now();
    const settled = settle(r, startedAt, runCommand(o, command, follower));
    commands.push(settled);
    if (command !== 'restart' && !ending) return settled.then(() => undefined);
    const recovery = settled.then((ok) => recover(r, g, ok));
    recoveries.push(recovery);
    return recovery;
  }

  return { issue, records, commands, recoveries };
}

/** Waits until every touched follower is caught up: true when all are. */
async function settleStragglers(o: FaultScheduleOptions, tracker: FaultTracker): Promise<boolean> {
  // A follower whose fault never reached a restart or resume (e.g. a failed kill) must still be up.
  const unsettled = [...tracker.touched].filter((f) => tracker.isFaulted(f));
  const healed = await Promise.all(
    unsettled.map(async (f) => {
      try {
        await o.ops.waitCaughtUp(f, { timeoutMs: o.catchUpTimeoutMs });
        tracker.clear(f);
        return true;
      } catch (err) {
        o.onWarning?.(`healing: ${f} is not caught up: ${errorText(err)}`);
        return false;
      }
    }),
  );
  return healed.every(Boolean);
}

/** Heals the cluster after the load: commands in flight, partitions, stopped and paused followers. */
async function healCluster(o: FaultScheduleOptions, tracker: FaultTracker, issuer: FaultIssuer): Promise<boolean> {
  await Promise.all(issuer.commands);
  for (const f of o.partitions?.active() ?? []) void issuer.issue('heal', 'unpartition', f, 'heal');
  for (const f of tracker.touched) {
    let state: 'running' | 'paused' | 'stopped';
    try {
      state = o.ops.nodeState(f);
    } catch {
      continue;
    }
    if (state === 'stopped') void issuer.issue('heal', 'restart', f, 'heal');
    else if (state === 'paused') void issuer.issue('heal', 'resume', f, 'heal');
  }
  // Recoveries may be appended while earlier ones settle.
  for (let i = 0; i < issuer.recoveries.length; i++) await issuer.recoveries[i];
  await Promise.all(issuer.commands);
  const healed = await settleStragglers(o, tracker);
  publishFaultCount(o.shared, tracker.count());
  return healed && tracker.count() === 0;
}

function planEvents(specs: readonly FaultSpec[]): PlannedEvent[] {
  return specs.flatMap((s, i) => [
    { spec: i, end: false, time: s.at },
    ...(s.until ? [{ spec: i, end: true, time: s.until }] : []),
  ]);
}

export function createFaultSchedule(o: FaultScheduleOptions): FaultSchedule {
  const rng: Rng = createRng(o.seed);
  const pollMs = o.pollMs ?? 1;
  const events = planEvents(o.specs);
  /** Followers each spec's start acted on, for its range end. */
  const picked = new Map<number, string[]>();
  let t0 = 0;
  let loadEnded = false;
  let timer: NodeJS.Timeout | undefined;
  const now = (): number => performance.now() - t0;
  const done = (): number => Atomics.load(o.shared, SHARED_DONE);
  const tracker = createFaultTracker(o, now);
  const issuer = createIssuer(o, tracker, now);

  function fire(e: PlannedEvent): void {
    const spec = o.specs[e.spec]!;
    if (e.end) {
      const command: FaultCommand =
        spec.action === 'pause' ? 'resume' : spec.action === 'partition' ? 'unpartition' : 'restart';
      for (const f of picked.get(e.spec) ?? []) void issuer.issue(spec.text, command, f, 'load');
      return;
    }
    const chosen = pickTargets(o, rng, tracker, spec);
    picked.set(e.spec, chosen);
    for (const f of chosen) void issuer.issue(spec.text, spec.action, f, 'load');
  }

  const due = (t: FaultTime): boolean =>
    t.unit === 'ms' ? now() >= t.value : done() >= Math.ceil((t.value / 100) * o.writes);

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
      tracker.endLoad();
      loadEnded = true;
      const notFired = events.map((e) => {
        const s = o.specs[e.spec]!;
        return e.end ? `${s.text} (end at ${formatFaultTime(e.time)})` : s.text;
      });
      for (const n of notFired) o.onWarning?.(`fault ${n} did not fire: the load ended first`);
      events.length = 0;
      const healed = await healCluster(o, tracker, issuer);
      const catchUps = issuer.records.flatMap((r) => (r.catchUpMs === null ? [] : [r.catchUpMs]));
      return {
        records: issuer.records,
        notFired,
        faultWindowMs: Math.round(tracker.windowMs()),
        recoveryMs: catchUps.length > 0 ? Math.max(...catchUps) : null,
        healed,
      };
    },
  };
}
