import { describe, expect, test } from 'vitest';
import { parseDurationMs, DurationError, formatDurationMs } from '../lib/duration.ts';

describe('parseDurationMs', () => {
  test.each([
    ['100us', 0.1],
    ['100µs', 0.1],
    ['0.1ms', 0.1],
    ['0.0001s', 0.1],
    ['0.1', 0.1],
    ['1', 1],
    ['2s', 2000],
    ['0', 0],
    [' 5 ms ', 5],
    ['1e-1ms', 0.1],
  ])('%s -> %d ms', (input, ms) => {
    expect(parseDurationMs(input)).toBeCloseTo(ms, 12);
  });

  test.each(['', 'ms', '-1ms', 'abc', '1h', '1..2ms', 'NaN', '1 ms s'])('rejects %j naming the option', (input) => {
    expect(() => parseDurationMs(input, 'MIN_DELAY')).toThrow(DurationError);
    expect(() => parseDurationMs(input, 'MIN_DELAY')).toThrow(/MIN_DELAY/);
  });

  test('rejects negative and non-finite numbers', () => {
    expect(() => parseDurationMs(-1)).toThrow(DurationError);
    expect(() => parseDurationMs(Infinity)).toThrow(DurationError);
  });

  test('formats', () => {
    expect(formatDurationMs(0.1)).toBe('100us');
    expect(formatDurationMs(2)).toBe('2ms');
    expect(formatDurationMs(2000)).toBe('2s');
  });
});
