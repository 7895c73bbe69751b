/**
 * The calibrated default load: ten clients in a closed loop saturate two cores by construction, so
 * their latency is mostly queueing. Instead, a short closed-loop step at the highest W (the slowest)
 * measures the capacity, and every W then runs open loop at one share of it (default half), below
 * saturation, where the quorum's cost is visible.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Calibration } from '../contracts/meta.ts';
import type { ExperimentOptions } from './options.ts';

/** Measured writes of the calibration step (at most --writes). */
export const CALIBRATION_WRITES = 2000;
/** Warm-up writes of the calibration step (at most --warmup). */
export const CALIBRATION_WARMUP = 200;

/** Without --writes, a calibrated step lasts at most this long (the default run's length on 2 cores). */
export const CALIBRATED_STEP_S = 6;
/** ...but measures at least this many writes. */
export const CALIBRATED_MIN_WRITES = 1000;

/** Writes per W for a calibrated rate when --writes was not given: `defaultWrites` capped at CALIBRATED_STEP_S of load. */
export function calibratedWrites(defaultWrites: number, rateWritesPerSec: number): number {
  return Math.min(defaultWrites, Math.max(CALIBRATED_MIN_WRITES, Math.round(rateWritesPerSec * CALIBRATED_STEP_S)));
}

export type { Calibration } from '../contracts/meta.ts';

/** The options of the calibration step: closed loop, highest W, short, no faults or probes, a throwaway folder. */
export function calibrationOptions(options: ExperimentOptions, out: string): ExperimentOptions {
  return {
    ...options,
    quorums: [Math.max(...options.quorums)],
    rate: null,
    rateShare: null,
    rates: [],
    writes: Math.min(options.writes, CALIBRATION_WRITES),
    warmup: Math.min(options.warmup, CALIBRATION_WARMUP),
    visibility: 0,
    trace: 0,
    faults: [],
    analyze: false,
    out,
  };
}

/** The rate for a share of a measured capacity (whole writes/s, at least 1). */
export function rateFromCapacity(capacityWritesPerSec: number, share: number): number {
  return Math.max(1, Math.round(capacityWritesPerSec * share));
}

/**
 * Run the calibration step with `runStep` (one closed-loop quorum step returning its achieved
 * writes/s) and derive the rate for `share` (default: options.rateShare).
 */
export async function calibrate(
  options: ExperimentOptions,
  runStep: (calibrationOptions: ExperimentOptions) => Promise<{ achievedRate: number }>,
  share = options.rateShare ?? 0.5,
): Promise<Calibration> {
  const dir = await mkdtemp(join(tmpdir(), 'ql-calibration-'));
  const started = performance.now();
  try {
    const o = calibrationOptions(options, dir);
    const r = await runStep(o);
    // The recorded capacity is whole writes/s, and every rate derives from that figure (the sweep's too).
    const capacityWritesPerSec = Math.round(r.achievedRate);
    return {
      quorum: o.quorums[0]!,
      clients: o.clients,
      writes: o.writes,
      capacityWritesPerSec,
      share,
      rateWritesPerSec: rateFromCapacity(capacityWritesPerSec, share),
      wallS: (performance.now() - started) / 1000,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
