import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import * as reader from '../analysis/read-run.ts';
import { RUN_TABLES, columnNames, renderRunFolderDoc } from '../contracts/run-folder.ts';
import * as writer from '../harness/csv.ts';

describe('the run folder is defined once, in contracts/run-folder.ts', () => {
  const writerColumns: Record<string, readonly string[]> = {
    'summary.csv': writer.SUMMARY_COLUMNS,
    'latency_percentiles.csv': writer.LATENCY_PERCENTILE_COLUMNS,
    'staleness.csv': writer.STALENESS_COLUMNS,
    'stale_counts.csv': writer.STALE_COUNTS_COLUMNS,
    'visibility.csv': writer.VISIBILITY_COLUMNS,
    'availability.csv': writer.AVAILABILITY_COLUMNS,
  };
  const readerKinds: Record<string, Record<string, string>> = {
    'summary.csv': { ...reader.SUMMARY_SPEC, ...reader.SUMMARY_OPTIONAL_SPEC },
    'latency_percentiles.csv': reader.LATENCY_PERCENTILES_SPEC,
    'staleness.csv': { ...reader.STALENESS_SPEC, ...reader.STALENESS_OPTIONAL_SPEC },
    'stale_counts.csv': reader.STALE_COUNTS_SPEC,
    'visibility.csv': { ...reader.VISIBILITY_SPEC, ...reader.VISIBILITY_OPTIONAL_SPEC },
    'availability.csv': { ...reader.AVAILABILITY_SPEC, ...reader.AVAILABILITY_OPTIONAL_SPEC },
  };
  it.each(RUN_TABLES.map((t) => [t.file, t] as const))(
    '%s: the writer writes and the reader reads exactly its columns',
    (file, table) => {
      expect(writerColumns[file]).toEqual(columnNames(table));
      const kinds = Object.fromEntries(
        Object.entries({ ...table.columns, ...table.optional }).map(([n, s]) => [n, s.kind]),
      );
      expect(readerKinds[file]).toEqual(kinds);
    },
  );
  it('a header the writer produces is what the reader parses, with a missing required column named', () => {
    const header = writer.STALE_COUNTS_COLUMNS.join(',');
    expect(reader.parseTable(`${header}\n3,1,7\n`, 'stale_counts.csv', reader.STALE_COUNTS_SPEC)).toEqual([
      { quorum: 3, stale_followers: 1, writes: 7, line: 2 },
    ]);
    expect(() => reader.parseTable('quorum,writes\n3,7\n', 'stale_counts.csv', reader.STALE_COUNTS_SPEC)).toThrow(
      /missing column stale_followers/,
    );
  });
  it('docs/run-folder.md is rendered from it (run `npm run docs` after changing a table)', async () => {
    const doc = await readFile(new URL('../docs/run-folder.md', import.meta.url), 'utf8');
    expect(doc).toBe(renderRunFolderDoc());
  });
});
