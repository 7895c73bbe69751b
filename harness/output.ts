/** Writing the run folder (docs/contracts.md, "Run folder"). */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AVAILABILITY_COLUMNS,
  LATENCY_PERCENTILE_COLUMNS,
  OBSERVED_READ_QUORUM_COLUMNS,
  STALE_COUNTS_COLUMNS,
  STALENESS_COLUMNS,
  SUMMARY_COLUMNS,
  VISIBILITY_COLUMNS,
  availabilityRows,
  latencyPercentileRows,
  observedReadQuorumRows,
  staleCountRows,
  stalenessRows,
  summaryRow,
  toCsv,
  visibilityRows,
} from './csv.ts';
import { hgrmText } from './histogram.ts';
import type { ExperimentOptions } from './options.ts';
import type { QuorumResult } from './results.ts';
import type { RunMeta } from '../contracts/meta.ts';

export async function writeRunFolder(
  dir: string,
  options: ExperimentOptions,
  results: readonly QuorumResult[],
  meta: RunMeta,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    [
      'summary.csv',
      toCsv(
        SUMMARY_COLUMNS,
        results.map((r) => summaryRow(r, r.convergence.leaderStats)),
      ),
    ],
    ['latency_percentiles.csv', toCsv(LATENCY_PERCENTILE_COLUMNS, results.flatMap(latencyPercentileRows))],
    ['staleness.csv', toCsv(STALENESS_COLUMNS, results.flatMap(stalenessRows))],
    ['stale_counts.csv', toCsv(STALE_COUNTS_COLUMNS, results.flatMap(staleCountRows))],
    ['availability.csv', toCsv(AVAILABILITY_COLUMNS, results.flatMap(availabilityRows))],
  ];
  if (options.visibility > 0)
    files.push(['visibility.csv', toCsv(VISIBILITY_COLUMNS, results.flatMap(visibilityRows))]);
  if (options.readQuorums.length > 0) {
    files.push([
      'observed_read_quorums.csv',
      toCsv(OBSERVED_READ_QUORUM_COLUMNS, results.flatMap(observedReadQuorumRows)),
    ]);
  }
  for (const r of results) files.push([`latency_q${r.quorum}.hgrm`, hgrmText(r.latency)]);
  files.push(['meta.json', `${JSON.stringify(meta, null, 2)}\n`]);
  const written: string[] = [];
  for (const [name, text] of files) {
    const path = join(dir, name);
    await writeFile(path, text);
    written.push(path);
  }
  return written;
}
