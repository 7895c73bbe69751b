import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { checkLostWrites, type CheckedWrite, type DataDump } from '../nodes/checker.ts';

const e = (version: number, value: unknown = `v${version}`) => ({ value, version });

describe('checkLostWrites', () => {
  test('held at that version or newer is fine; older or missing is lost; another value at that version is corrupted', () => {
    const acked: CheckedWrite[] = [
      { key: 'a', version: 1, value: 'v1' },
      { key: 'a', version: 4, value: 'v4' },
      { key: 'b', version: 2, value: 'v2' },
      { key: 'c', version: 3, value: 'v3' },
    ];
    const leader: DataDump = { a: e(4), b: e(5), c: e(3) };
    const stale: DataDump = { a: e(1), c: e(3, 'other') };
    const report = checkLostWrites(acked, [
      { name: 'leader', data: leader },
      { name: 'follower1', data: stale },
    ]);
    expect(report.nodes[0]).toMatchObject({ name: 'leader', lost: 0, corrupted: 0, lostKeys: 0 });
    expect(report.nodes[1]).toMatchObject({ name: 'follower1', lost: 2, lostKeys: 2, missingKeys: 1, corrupted: 1 });
    expect(report.nodes[1]!.sample).toEqual([
      { key: 'b', version: 2, storedVersion: null },
      { key: 'a', version: 4, storedVersion: 1 },
    ]);
    expect(report).toMatchObject({ acknowledged: 4, unknownOutcome: 0, totalLost: 3, ok: false });
  });

  test('unknown-outcome writes are counted when present, never reported lost', () => {
    const report = checkLostWrites([], [{ name: 'leader', data: { a: e(7) } }], {
      unknownOutcome: [
        { key: 'a', version: 7 },
        { key: 'a', version: 9 },
        { key: 'z', version: 1 },
      ],
    });
    expect(report.nodes[0]).toMatchObject({ lost: 0, unknownPresent: 1 });
    expect(report).toMatchObject({ unknownOutcome: 3, ok: true });
  });

  test('keys like __proto__ and constructor are data, not prototype lookups', () => {
    const data = JSON.parse('{"__proto__":{"value":1,"version":2}}') as DataDump;
    const report = checkLostWrites(
      [
        { key: '__proto__', version: 2 },
        { key: 'constructor', version: 1 },
      ],
      [{ name: 'n', data }],
    );
    expect(report.nodes[0]).toMatchObject({ lost: 1, missingKeys: 1 });
    expect(report.nodes[0]!.sample[0]!.key).toBe('constructor');
  });

  test('property: a node built by applying any superset of the acked writes loses nothing; dropping one acked write that is the newest for its key is caught', () => {
    const write = fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd'), version: fc.integer({ min: 1, max: 1000 }) });
    fc.assert(
      fc.property(
        fc.uniqueArray(write, { selector: (w) => w.version, minLength: 1, maxLength: 40 }),
        fc.nat(),
        (writes, pick) => {
          const apply = (ws: CheckedWrite[]) => {
            const d: DataDump = {};
            for (const w of ws) if (!d[w.key] || d[w.key]!.version < w.version) d[w.key] = e(w.version);
            return d;
          };
          expect(checkLostWrites(writes, [{ name: 'n', data: apply(writes) }]).ok).toBe(true);
          const newest = writes.filter((w) => !writes.some((o) => o.key === w.key && o.version > w.version));
          const dropped = newest[pick % newest.length]!;
          const report = checkLostWrites(writes, [{ name: 'n', data: apply(writes.filter((w) => w !== dropped)) }]);
          expect(report.ok).toBe(false);
          expect(report.nodes[0]!.sample.map((l) => l.key)).toContain(dropped.key);
        },
      ),
      { numRuns: 200 },
    );
  });
});
