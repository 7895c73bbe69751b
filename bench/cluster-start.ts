/**
 * Cluster start time (issue 13 target: `npm run cluster` until all six /health answer ≤ 1.2 s):
 *  - the CLI as a user runs it: from spawning `npm run cluster`'s process to its "ready" line, and the
 *    time it reports itself (start of startCluster to every /health answered, without tsx's own load);
 *  - startCluster() inside this process (the harness's path, once per quorum step);
 *  - a cold build of the node bundle (lib/node-bundle.mjs), paid once after a source change.
 * The bundle is warm for the first two (built before the timing starts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNodeBundle, ensureNodeBundle } from '../lib/node-bundle.mjs';
import { TSX_IMPORT_ARGS } from '../lib/ts-run.ts';
import { startCluster } from '../nodes/cluster.ts';
import { formatTable, round2 } from './common.ts';

const CLI = fileURLToPath(new URL('../nodes/cluster-cli.ts', import.meta.url));

export interface ClusterStartResult {
  repeats: number;
  /** Spawn of the CLI → its ready line, s (includes loading tsx and the CLI). */
  cliWallS: { p50: number; max: number };
  /** What the CLI reports: startCluster → every /health answered, s. */
  cliReportedS: { p50: number; max: number };
  /** startCluster() in this process, s. */
  inProcessS: { p50: number; max: number };
  /** Cold esbuild build of the node bundle, s. */
  bundleBuildS: number;
}

/** One `npm run cluster` (ephemeral ports): [wall s, reported s]; stopped with SIGINT like Ctrl-C. */
async function cliStart(): Promise<[number, number]> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...TSX_IMPORT_ARGS, CLI, '--leader-port', '0', '--quiet'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  try {
    const reported = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        out += d;
        const m = out.match(/ready in ([\d.]+) s/);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`npm run cluster exited (${code}) before ready: ${out}`)));
    });
    return [(performance.now() - t0) / 1000, reported];
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }
}

async function inProcessStart(): Promise<number> {
  const t0 = performance.now();
  const cluster = await startCluster({ writeQuorum: 3 });
  const s = (performance.now() - t0) / 1000;
  await cluster.stop();
  return s;
}

function stats(xs: number[]): { p50: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length / 2;
  const p50 = s.length % 2 ? s[Math.floor(mid)]! : (s[mid - 1]! + s[mid]!) / 2;
  return { p50: round2(p50), max: round2(s[s.length - 1] ?? NaN) };
}

export async function run(options: { quick?: boolean } = {}): Promise<ClusterStartResult> {
  const repeats = options.quick ? 2 : 7;
  const dir = mkdtempSync(join(tmpdir(), 'quorum-lab-bundle-'));
  const b0 = performance.now();
  try {
    await buildNodeBundle(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const bundleBuildS = round2((performance.now() - b0) / 1000);
  await ensureNodeBundle();
  const wall: number[] = [];
  const reported: number[] = [];
  const inProcess: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const [w, r] = await cliStart();
    wall.push(w);
    reported.push(r);
    inProcess.push(await inProcessStart());
  }
  return { repeats, cliWallS: stats(wall), cliReportedS: stats(reported), inProcessS: stats(inProcess), bundleBuildS };
}

export function format(r: ClusterStartResult): string {
  return formatTable(
    ['figure', 'p50 s', 'max s'],
    [
      ['npm run cluster: spawn → ready line', r.cliWallS.p50, r.cliWallS.max],
      ['npm run cluster: reported (start → six /health)', r.cliReportedS.p50, r.cliReportedS.max],
      ['startCluster() in process (harness)', r.inProcessS.p50, r.inProcessS.max],
      ['cold bundle build (once per source change)', r.bundleBuildS, r.bundleBuildS],
    ],
  );
}

export function verdict(r: ClusterStartResult): string {
  const x = r.cliReportedS.p50;
  return `npm run cluster until all six /health answer: p50 ${x} s (target ≤ 1.2 s) → ${x <= 1.2 ? 'holds' : 'MISSED'}; with the CLI's own load ${r.cliWallS.p50} s`;
}
