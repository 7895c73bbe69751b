/**
 * Where the CPU goes in one quorum step of the default experiment: CPU profiles of the leader, the
 * followers and the client, summarised by function and by module. Not part of `npm run bench`.
 *
 *   npx tsx bench/profile.ts [--quorum 3] [--clients 10] [--writes 10000] [--readback 1] [--keep DIR]
 *
 * Node 20 refuses --cpu-prof in NODE_OPTIONS, so each node gets a small preload (NODE_OPTIONS
 * --import) that starts the V8 sampling profiler through node:inspector and writes the profile
 * when the node exits. The client is the harness's own runClients (harness/client.ts) on this
 * process's main thread, profiled the same way: the same code as the experiment's worker threads.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hideBin } from 'yargs/helpers';
import { cliParser } from '../lib/cli.ts';
import { runClients } from '../harness/client.ts';
import { startBenchCluster } from './cluster.ts';
import { formatTable, ownCpuS, round1 } from './common.ts';

const PRELOAD = `
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
const dir = process.env.QL_CPU_PROF_DIR;
if (dir) {
  const s = new Session();
  s.connect();
  s.post('Profiler.enable');
  s.post('Profiler.setSamplingInterval', { interval: 200 });
  s.post('Profiler.start');
  // A same-thread inspector session answers synchronously, so this completes inside 'exit'.
  process.on('exit', () => {
    s.post('Profiler.stop', (err, r) => {
      if (!err) writeFileSync(dir + '/' + (process.env.ROLE ?? 'node') + '-' + process.pid + '.cpuprofile', JSON.stringify(r.profile));
    });
  });
}
`;

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  name: string;
  /** Sampled busy time (not idle), seconds. */
  busyS: number;
  topFunctions: Array<{ fn: string; sharePct: number }>;
  modules: Array<{ module: string; sharePct: number }>;
}

function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:'))
    return url
      .replace(/^node:internal\//, 'node:')
      .split('/')
      .slice(0, 2)
      .join('/');
  return url.replace(/^file:\/\/.*?\/(nodes|harness|lib|bench)\//, '$1/');
}

export function summarizeProfile(name: string, profile: CpuProfile, top = 12): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const fns = new Map<string, number>();
  const mods = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)') continue;
    busy += us;
    const where = cf.url ? ` ${moduleOf(cf.url, cf.functionName)}:${cf.lineNumber + 1}` : '';
    const fn = `${cf.functionName || '(anonymous)'}${where}`;
    fns.set(fn, (fns.get(fn) ?? 0) + us);
    const m = moduleOf(cf.url, cf.functionName);
    mods.set(m, (mods.get(m) ?? 0) + us);
  }
  const pct = (us: number): number => round1((us / busy) * 100);
  const sorted = (m: Map<string, number>): Array<[string, number]> => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    name,
    busyS: Math.round(busy / 1e4) / 100,
    topFunctions: sorted(fns).map(([fn, us]) => ({ fn, sharePct: pct(us) })),
    modules: sorted(mods).map(([module, us]) => ({ module, sharePct: pct(us) })),
  };
}

export interface ProfileRunOptions {
  quorum?: number;
  clients?: number;
  writes?: number;
  readback?: number;
  /** Keep the .cpuprofile files here (open them in Chrome DevTools); default: a temp dir, removed. */
  keepDir?: string;
}

export async function run(
  options: ProfileRunOptions = {},
): Promise<{ writes: number; wallS: number; clientCpuS: number; profiles: ProfileSummary[]; dir: string | null }> {
  const dir = options.keepDir ? resolve(options.keepDir) : mkdtempSync(join(tmpdir(), 'quorum-lab-prof-'));
  mkdirSync(dir, { recursive: true });
  const preload = join(dir, 'preload.mjs');
  writeFileSync(preload, PRELOAD);
  const writes = options.writes ?? 10_000;
  const bc = await startBenchCluster({
    writeQuorum: options.quorum ?? 3,
    env: { NODE_OPTIONS: `--import=${pathToFileURL(preload).href}`, QL_CPU_PROF_DIR: dir },
  });
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object): Promise<T> =>
    new Promise((res, rej) => session.post(method, params ?? {}, (err, r) => (err ? rej(err) : res(r as T))));
  let wallS = 0;
  let clientCpuS = 0;
  try {
    const clients = options.clients ?? 10;
    const task = {
      thread: 0,
      clientIds: Array.from({ length: clients }, (_, i) => i),
      totalClients: clients,
      leaderUrl: bc.leaderUrl,
      followerUrls: bc.followerUrls,
      workload: { seed: 1, keys: 100, valueBytes: 16, readback: options.readback ?? 1, visibility: 0 },
      writes,
      warmup: 0,
      rate: null,
      requestTimeoutMs: 10_000,
      visibilityOffsetsUs: [],
      progressIntervalMs: 0,
      progressHistogram: false,
    };
    await runClients({ ...task, writes: 500 }); // warm-up, not profiled
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 200 });
    await post('Profiler.start');
    const cpu0 = ownCpuS();
    const t0 = performance.now();
    await runClients(task);
    wallS = (performance.now() - t0) / 1000;
    clientCpuS = ownCpuS() - cpu0;
    const { profile } = await post<{ profile: CpuProfile }>('Profiler.stop');
    writeFileSync(join(dir, `client-${process.pid}.cpuprofile`), JSON.stringify(profile));
  } finally {
    session.disconnect();
    await bc.stop();
  }
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  const profiles = files.map((f) =>
    summarizeProfile(f.replace(/\.cpuprofile$/, ''), JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile),
  );
  if (!options.keepDir) rmSync(dir, { recursive: true, force: true });
  return { writes, wallS, clientCpuS, profiles, dir: options.keepDir ? dir : null };
}

async function main(): Promise<void> {
  const values = cliParser(
    'profile',
    'npx tsx bench/profile.ts',
    '$0 [options]\n\nCPU profiles of the nodes and the client during a short load.',
    hideBin(process.argv),
  )
    .option('quorum', { type: 'string', describe: 'W' })
    .option('clients', { type: 'string', describe: 'concurrent clients' })
    .option('writes', { type: 'string', describe: 'writes to profile' })
    .option('readback', { type: 'string', describe: 'read-backs per write' })
    .option('keep', { type: 'string', describe: 'keep the .cpuprofile files in this folder' })
    .parseSync();
  const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  const r = await run({
    quorum: num(values.quorum),
    clients: num(values.clients),
    writes: num(values.writes),
    readback: num(values.readback),
    keepDir: values.keep,
  });
  console.log(
    `${r.writes} writes in ${r.wallS.toFixed(2)} s (${Math.round(r.writes / r.wallS)}/s); client CPU ${r.clientCpuS.toFixed(2)} s`,
  );
  for (const p of r.profiles) {
    console.log(`\n### ${p.name}: ${p.busyS} s busy (sampled; node profiles include start-up and warm-up)`);
    console.log(
      formatTable(
        ['module', '% busy'],
        p.modules.map((m) => [m.module, m.sharePct]),
      ),
    );
    console.log(
      formatTable(
        ['function (self time)', '% busy'],
        p.topFunctions.map((f) => [f.fn, f.sharePct]),
      ),
    );
  }
  if (r.dir) console.log(`\nprofiles kept in ${r.dir}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
