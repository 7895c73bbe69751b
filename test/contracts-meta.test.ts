import { describe, expect, it } from 'vitest';
import { META_SCHEMA_VERSION, checkMeta } from '../contracts/meta.ts';
import { buildMeta } from '../harness/meta.ts';
import { resolveOptions } from '../harness/options.ts';

describe('meta.json has one shape, written and read through contracts/meta.ts', () => {
  it('what the harness writes is what the reader accepts, with the current schemaVersion', () => {
    const options = resolveOptions({});
    const meta = buildMeta({
      options,
      cluster: { mode: 'local' },
      startedAt: new Date(0),
      endedAt: new Date(1000),
      leaderStats: {},
      quorums: {},
    });
    expect(meta.schemaVersion).toBe(META_SCHEMA_VERSION);
    const back = checkMeta(JSON.parse(JSON.stringify(meta)));
    expect('meta' in back && back.meta.tool.name).toBe('quorum-lab');
  });
  it('reads a run from before schemaVersion as version 1', () => {
    const back = checkMeta({ tool: { name: 'quorum-lab' }, options: {}, seed: 7 });
    expect(back).toMatchObject({ meta: { schemaVersion: 1, seed: 7, cluster: {}, quorums: {} } });
  });
  it('names the field that is wrong, and refuses a newer schema', () => {
    expect(checkMeta([])).toEqual({ problem: 'expected a JSON object' });
    expect(checkMeta({ tool: {} })).toEqual({ problem: 'tool.name is missing' });
    expect(checkMeta({ tool: { name: 'x' }, cluster: 3 })).toEqual({ problem: 'cluster must be an object' });
    expect(checkMeta({ schemaVersion: META_SCHEMA_VERSION + 1, tool: { name: 'x' } })).toMatchObject({
      problem: expect.stringContaining('newer than this analysis understands'),
    });
  });
});
