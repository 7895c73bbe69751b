/**
 * Faults as the system lives them (issue 12): W = 3 under an open-loop rate with follower2 paused,
 * partitioned or killed for 12 s of the load. From each run folder: writes the schedule intended in
 * the fault window, the share sent within 5 ms (and sent on time and acknowledged), the latter in the normal window, the
 * client's p50 beside the leader's own p50 in each window (its /stats histograms at the window
 * boundaries, subtracted), reads to follower2 counted unavailable, lost writes and convergence.
 * Targets: ≥ 95 % sent on time during the pause; client p50 within 2× of the leader's in every window.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { runExperiment } from '../harness/experiment.ts';
import { formatTable, round1 } from './common.ts';

export interface FaultsOptions {
  quick?: boolean;
}

interface Scenario {
  name: string;
  fault: string;
  rate: number;
  writes: number;
}

export interface ScenarioResult extends Scenario {
  command: string;
  faultIntended: number;
  /** Intended writes of the window sent within 5 ms of their intended time (the measure), %. */
  faultSentOnTimePct: number | null;
  /** Those sent on time and acknowledged, %. */
  faultOnTimePct: number | null;
  normalOnTimePct: number | null;
  faultClientP50Us: number | null;
  faultLeaderP50Us: number | null;
  normalClientP50Us: number | null;
  normalLeaderP50Us: number | null;
  pausedUnavailableReads: number;
  othersUnavailableReads: number;
  lostWrites: number;
  converged: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: 'pause', fault: 'pause:follower2@2s-14s', rate: 600, writes: 12000 },
  { name: 'partition', fault: 'partition:follower2@2s-14s', rate: 600, writes: 12000 },
  { name: 'kill', fault: 'kill:follower2@2s-14s', rate: 600, writes: 12000 },
  { name: 'pause', fault: 'pause:follower2@2s-14s', rate: 300, writes: 6000 },
  // A rate this 2-core machine follows with room to spare (~1 core at 150/s, bench trace-cost): what the
  // pause alone does to the schedule, apart from the CPU shortage of the 600/s.
  { name: 'pause', fault: 'pause:follower2@2s-14s', rate: 150, writes: 3000 },
];

type Row = Record<string, string>;
const csv = (dir: string, file: string): Row[] =>
  parse(readFileSync(join(dir, file), 'utf8'), { columns: true }) as Row[];
const num = (x: string | undefined): number | null => (x === undefined || x === '' ? null : Number(x));

function figures(s: Scenario, dir: string, converged: boolean): ScenarioResult {
  const windows = new Map(csv(dir, 'availability.csv').map((r) => [r.window!, r]));
  const onTime = (w: string, column = 'ok_on_time'): number | null => {
    const r = windows.get(w);
    const intended = num(r?.intended);
    return intended ? round1((100 * (num(r?.[column]) ?? 0)) / intended) : null;
  };
  const staleness = csv(dir, 'staleness.csv');
  const unavailable = (pick: (r: Row) => boolean): number =>
    staleness.filter(pick).reduce((a, r) => a + (num(r.unavailable) ?? 0), 0);
  const summary = csv(dir, 'summary.csv')[0]!;
  return {
    ...s,
    command: `npm run experiment -- --quorums 3 --rate ${s.rate} --writes ${s.writes} --fault '${s.fault}'`,
    faultIntended: num(windows.get('fault')?.intended) ?? 0,
    faultSentOnTimePct: onTime('fault', 'sent_on_time'),
    faultOnTimePct: onTime('fault'),
    normalOnTimePct: onTime('normal'),
    faultClientP50Us: num(windows.get('fault')?.latency_p50_us),
    faultLeaderP50Us: num(windows.get('fault')?.leader_latency_p50_us),
    normalClientP50Us: num(windows.get('normal')?.latency_p50_us),
    normalLeaderP50Us: num(windows.get('normal')?.leader_latency_p50_us),
    pausedUnavailableReads: unavailable((r) => r.replica === 'follower2'),
    othersUnavailableReads: unavailable((r) => r.replica !== 'follower2'),
    lostWrites: num(summary.lost_writes) ?? 0,
    converged,
  };
}

async function runScenario(s: Scenario, quick: boolean): Promise<ScenarioResult> {
  const dir = mkdtempSync(join(tmpdir(), `quorum-lab-faults-${s.name}-`));
  try {
    const writes = quick ? Math.round(s.writes / 4) : s.writes;
    const fault = quick ? s.fault.replace('@2s-14s', '@1s-3s') : s.fault;
    const r = await runExperiment({
      quorums: '3',
      rate: s.rate,
      writes,
      fault,
      out: dir,
      analyze: false,
      progress: false,
    });
    return figures({ ...s, writes, fault }, dir, r.converged);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(options: FaultsOptions = {}): Promise<{ scenarios: ScenarioResult[] }> {
  const scenarios: ScenarioResult[] = [];
  for (const s of SCENARIOS) scenarios.push(await runScenario(s, options.quick ?? false));
  return { scenarios };
}

const f = (x: number | null): string | number => (x === null ? '–' : x);

export function format(r: { scenarios: ScenarioResult[] }): string {
  return formatTable(
    [
      'fault',
      'rate/s',
      'intended in window',
      'sent on time % (fault)',
      'on time+ok % (fault)',
      '(normal)',
      'p50 µs client / leader (fault)',
      '(normal)',
      'follower2 unavailable reads',
      'others unavailable',
      'lost',
      'converged',
    ],
    r.scenarios.map((s) => [
      s.name,
      s.rate,
      s.faultIntended,
      f(s.faultSentOnTimePct),
      f(s.faultOnTimePct),
      f(s.normalOnTimePct),
      `${f(s.faultClientP50Us)} / ${f(s.faultLeaderP50Us)}`,
      `${f(s.normalClientP50Us)} / ${f(s.normalLeaderP50Us)}`,
      s.pausedUnavailableReads,
      s.othersUnavailableReads,
      s.lostWrites,
      s.converged ? 'yes' : 'NO',
    ]),
  );
}

export function verdict(r: { scenarios: ScenarioResult[] }): string {
  return r.scenarios
    .map((s) => {
      const ratio = (client: number | null, leader: number | null): number | null =>
        client !== null && leader ? round1(client / leader) : null;
      const [fault, normal] = [
        ratio(s.faultClientP50Us, s.faultLeaderP50Us),
        ratio(s.normalClientP50Us, s.normalLeaderP50Us),
      ];
      const sent = s.faultSentOnTimePct;
      const onTime = sent === null ? 'no data' : sent >= 95 ? 'holds' : 'MISSED';
      const worst = fault === null || normal === null ? null : Math.max(fault, normal);
      const twice = worst === null ? 'no data' : worst <= 2 ? 'holds' : 'MISSED';
      return `${s.name} at ${s.rate}/s: ${f(sent)} % sent on time (≥ 95: ${onTime}), ${f(s.faultOnTimePct)} % on time and ok, client p50 ${f(fault)}× the leader's in the fault window, ${f(normal)}× in the normal one (≤ 2: ${twice}), lost ${s.lostWrites}`;
    })
    .join('; ');
}
