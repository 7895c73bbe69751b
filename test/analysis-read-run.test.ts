import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunDataError, parseCsv, readRun } from '../analysis/read-run.ts';

const FIXTURE = new URL('./fixtures/run-synthetic/', import.meta.url).pathname;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ql-read-run-'));
  await cp(FIXTURE, dir, { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function edit(file: string, change: (text: string) => string): Promise<void> {
  const path = join(dir, file);
  await writeFile(path, change(await readFile(path, 'utf8')));
}

async function failure(): Promise<RunDataError> {
  const err = await readRun(dir).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RunDataError);
  return err as RunDataError;
}

describe('readRun on the synthetic run', () => {
  it('loads every table with typed values', async () => {
    const run = await readRun(dir);
    expect(run.summary.map((r) => r.quorum)).toEqual([1, 2, 3, 4, 5]);
    expect(run.summary[0]!.target_writes_per_sec).toBeNull();
    expect(run.summary[0]!.converged).toBe(true);
    expect(run.summary[0]!.line).toBe(2);
    expect(run.staleness.filter((r) => r.quorum === 1)).toHaveLength(6);
    expect(run.staleCounts.filter((r) => r.quorum === 3).reduce((s, r) => s + r.writes, 0)).toBe(2000);
    expect(run.visibility?.[0]?.realised_offset_mean_us).toBe(12);
    expect(run.followers).toBe(5);
    expect((run.meta.options as { minDelayMs: number }).minDelayMs).toBe(0.1);
  });
  it('visibility.csv is optional', async () => {
    await unlink(join(dir, 'visibility.csv'));
    expect((await readRun(dir)).visibility).toBeNull();
  });
});

describe('readRun errors name the file and the problem', () => {
  it('missing folder', async () => {
    await rm(dir, { recursive: true });
    const e = await failure();
    expect(e.code).toBe('QL_ERR_RUN_DIR');
  });
  it('missing file', async () => {
    await unlink(join(dir, 'stale_counts.csv'));
    const e = await failure();
    expect(e.code).toBe('QL_ERR_RUN_MISSING_FILE');
    expect(e.file).toBe('stale_counts.csv');
    expect(e.message).toMatch(/^stale_counts\.csv: missing/);
  });
  it('missing column', async () => {
    await edit('summary.csv', (t) => t.replace('latency_p99_us', 'latency_p99'));
    const e = await failure();
    expect(e.code).toBe('QL_ERR_RUN_MISSING_COLUMN');
    expect(e.message).toMatch(/summary\.csv: missing column latency_p99_us/);
    expect(e.column).toBe('latency_p99_us');
  });
  it('non-numeric value: line and column', async () => {
    await edit('latency_percentiles.csv', (t) => {
      const lines = t.split('\n');
      lines[3] = lines[3]!.replace(/,[^,]*$/, ',fast');
      return lines.join('\n');
    });
    const e = await failure();
    expect(e.code).toBe('QL_ERR_RUN_BAD_VALUE');
    expect(e.message).toBe('latency_percentiles.csv line 4, column latency_us: expected a number (got "fast")');
    expect([e.file, e.line, e.column]).toEqual(['latency_percentiles.csv', 4, 'latency_us']);
  });
  it('empty required cell, NaN, non-integer count, bad boolean', async () => {
    await edit('summary.csv', (t) => t.replace('\n1,4,closed,,', '\n1,4,closed,,x'));
    expect((await failure()).message).toMatch(/summary\.csv line 2, column achieved_writes_per_sec: expected a number/);
    await cp(FIXTURE, dir, { recursive: true });
    await edit('staleness.csv', (t) => t.replace('1,follower1,2000,', '1,follower1,NaN,'));
    expect((await failure()).message).toMatch(/staleness\.csv line 3, column reads: expected an integer \(got "NaN"\)/);
    await cp(FIXTURE, dir, { recursive: true });
    await edit('stale_counts.csv', (t) => t.replace('1,1,84', '1,1,8.4'));
    expect((await failure()).message).toMatch(/stale_counts\.csv line 3, column writes: expected an integer/);
    await cp(FIXTURE, dir, { recursive: true });
    await edit('summary.csv', (t) => t.replace(',true,', ',yes,'));
    expect((await failure()).message).toMatch(/column converged: expected true or false/);
  });
  it('out-of-range values', async () => {
    await edit('staleness.csv', (t) => t.replace('1,follower1,2000,1222,0.611', '1,follower1,2000,1222,1.611'));
    expect((await failure()).message).toMatch(/staleness\.csv line 3, column stale_fraction: 1\.611 is outside 0\.\.1/);
  });
  it('wrong field count', async () => {
    await edit('stale_counts.csv', (t) => t.replace('1,1,84', '1,1,84,9'));
    const e = await failure();
    expect(e.code).toBe('QL_ERR_RUN_CSV_SYNTAX');
    expect(e.message).toBe('stale_counts.csv line 3: 4 fields, the header has 3');
  });
  it('empty summary', async () => {
    await edit('summary.csv', (t) => `${t.split('\n')[0]}\n`);
    expect((await failure()).code).toBe('QL_ERR_RUN_EMPTY');
  });
  it('bad meta.json', async () => {
    await writeFile(join(dir, 'meta.json'), '{"tool":');
    const e = await failure();
    expect(e.code).toBe('QL_ERR_RUN_BAD_JSON');
    expect(e.message).toMatch(/^meta\.json: not valid JSON/);
  });
});

describe('parseCsv', () => {
  it('handles quotes, escaped quotes, CRLF and a missing final newline', () => {
    expect(parseCsv('a,b\r\n"x,1","say ""hi"""\r\n\r\n3,', 'f.csv')).toEqual([
      { fields: ['a', 'b'], line: 1 },
      { fields: ['x,1', 'say "hi"'], line: 2 },
      { fields: ['3', ''], line: 4 },
    ]);
  });
  it('counts lines inside quoted newlines (a record spanning lines reports the line it ends on)', () => {
    expect(parseCsv('a\n"x\ny"\nz\n', 'f.csv').map((r) => r.line)).toEqual([1, 3, 4]);
  });
  it('rejects an unterminated quote with the line', () => {
    expect(() => parseCsv('a\n"open\n', 'f.csv')).toThrow(/^f\.csv line \d: Quote Not Closed/);
    expect(() => parseCsv('a\n"x"y\n', 'f.csv')).toThrow(/^f\.csv line 2: Invalid Closing Quote/);
    expect(() => parseCsv('a\n"x"y\n', 'f.csv')).toThrow(
      expect.objectContaining({ code: 'QL_ERR_RUN_CSV_SYNTAX', file: 'f.csv', line: 2 }),
    );
  });
});
