/**
 * Durations as users write them: `100us`, `0.1ms`, `0.0001s`; a bare number means milliseconds.
 * Shared by the nodes' environment variables and the harness's CLI so both accept the same forms.
 */
import { QuorumLabError } from '../contracts/errors.ts';

export class DurationError extends QuorumLabError {
  constructor(
    readonly option: string,
    readonly input: unknown,
  ) {
    super(
      'QL_ERR_DURATION',
      `${option}: cannot parse duration ${JSON.stringify(input)} (use e.g. 100us, 0.1ms, 0.0001s; a bare number means ms)`,
    );
  }
}

const UNIT_TO_MS: Record<string, number> = { us: 1e-3, µs: 1e-3, ms: 1, s: 1000 };

/** Parse a duration into milliseconds. `option` names the setting in the error message. */
export function parseDurationMs(input: string | number, option = 'duration'): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new DurationError(option, input);
    return input;
  }
  const m = /^\s*(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d+))?\s*(us|µs|ms|s)?\s*$/i.exec(input);
  if (!m) throw new DurationError(option, input);
  const value = Number(m[1]) * 10 ** Number(m[2] ?? 0);
  const unit = (m[3] ?? 'ms').toLowerCase();
  const ms = value * UNIT_TO_MS[unit]!;
  if (!Number.isFinite(ms)) throw new DurationError(option, input);
  return ms;
}

/** Format milliseconds for humans, choosing µs below 1 ms. */
export function formatDurationMs(ms: number): string {
  if (ms < 1) return `${+(ms * 1000).toFixed(3)}us`;
  if (ms < 1000) return `${+ms.toFixed(3)}ms`;
  return `${+(ms / 1000).toFixed(3)}s`;
}
