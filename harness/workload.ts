/**
 * The seeded write sequence. Write i of a phase is a pure function of (seed, phase, i), so the
 * same seed gives the same keys, values and sampling decisions whatever the number of clients or
 * threads, and no thread needs to coordinate with another to draw it.
 */
import { createRng } from '../lib/rng.ts';

export type Phase = 'warmup' | 'measure';

export interface WorkloadConfig {
  seed: number;
  keys: number;
  valueBytes: number;
  /** Fraction of writes read back from every replica. */
  readback: number;
  /** Fraction of writes probed for t-visibility. */
  visibility: number;
  /** Fraction of measured writes traced (TRACE_HEADER on the write and its read-backs); 0 when absent. */
  trace?: number;
}

export interface PlannedWrite {
  index: number;
  key: string;
  value: string;
  readback: boolean;
  visibility: boolean;
  trace: boolean;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const PHASE_SALT: Record<Phase, number> = { warmup: 0x5bd1e995, measure: 0x27d4eb2f };

/** murmur3's finaliser: spreads neighbouring indices to unrelated RNG streams. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

export function keyName(k: number): string {
  return `key-${k}`;
}

export function planWrite(config: WorkloadConfig, phase: Phase, index: number): PlannedWrite {
  const rng = createRng(mix32((config.seed ^ PHASE_SALT[phase]) + Math.imul(index + 1, 0x9e3779b1)));
  const key = keyName(rng.int(config.keys));
  let value = '';
  for (let i = 0; i < config.valueBytes; i++) value += ALPHABET[rng.int(ALPHABET.length)];
  // Draw both sampling decisions always, so changing one fraction does not reshuffle the other.
  const r = rng.next();
  const v = rng.next();
  // Drawn after the others, so adding tracing changed no earlier decision of a seed.
  const t = rng.next();
  return {
    index,
    key,
    value,
    readback: r < config.readback,
    visibility: v < config.visibility,
    trace: t < (config.trace ?? 0),
  };
}

/** Global write indices of one logical client: client c of C takes c, c+C, c+2C, ... */
export function clientIndices(client: number, clients: number, total: number): number[] {
  const out: number[] = [];
  for (let i = client; i < total; i += clients) out.push(i);
  return out;
}

/** The seed of the injected delays of the cluster for quorum W, derived so every W differs. */
export function delaySeedFor(seed: number, quorum: number): number {
  return mix32(seed ^ Math.imul(quorum, 0x9e3779b1));
}

/** The seed of the fault schedule's random target choices: the same for every W, so each quorum sees the same faults. */
export function faultSeedFor(seed: number): number {
  return mix32(seed ^ 0xfa17ed00);
}
