import { describe, expect, test } from 'vitest';
import { isQuiescent } from '../harness/convergence.ts';

describe('isQuiescent', () => {
  test('needs no pending replication', () => {
    expect(isQuiescent({ replication: { pending: 0 } })).toBe(true);
    expect(isQuiescent({ replication: { pending: 3 } })).toBe(false);
  });

  test('needs every follower up when the leader reports follower states', () => {
    expect(isQuiescent({ replication: { pending: 0 }, availability: { down: 0, catching_up: 0 } })).toBe(true);
    // A follower marked down (e.g. a probe timed out on a busy machine) is not caught up yet.
    expect(isQuiescent({ replication: { pending: 0 }, availability: { down: 1, catching_up: 0 } })).toBe(false);
    expect(isQuiescent({ replication: { pending: 0 }, availability: { down: 0, catching_up: 1 } })).toBe(false);
  });
});
