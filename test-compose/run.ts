/**
 * `npm run test:compose`: the compose cluster for real (not part of `npm test`, which needs no Docker).
 * Builds the image, measures the cluster at W = 1 and W = 5 through --cluster-cmd (compose up per
 * step, down after it), checks converged and nothing lost, checks that `docker stop` ends a node with
 * exit code 0, and tears everything down. Host ports are chosen free and published on 127.0.0.1.
 *
 * Exit codes: 0 passed, 1 a check failed, 3 no Docker engine or compose on this machine (says why).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitHealthy } from '../harness/cluster-command.ts';
import { createControl } from '../harness/control.ts';
import { runExperiment } from '../harness/experiment.ts';
import { freePorts } from '../test/free-ports.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FOLLOWERS = ['follower1', 'follower2', 'follower3', 'follower4', 'follower5'];

class CheckFailed extends Error {
  readonly code = 'QL_ERR_COMPOSE_CHECK';
}

function run(argv: string[], timeoutMs = 900_000): { ok: boolean; out: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

function must(argv: string[], what: string, timeoutMs?: number): string {
  const r = run(argv, timeoutMs);
  if (!r.ok)
    throw new CheckFailed(`${what} failed (${argv.join(' ')}):\n${r.out.trim().split('\n').slice(-10).join('\n')}`);
  return r.out.trim();
}

/** The compose v2 plugin, else docker-compose v1; null with the reason when neither (or no engine) works. */
export function findCompose(): { compose: string[] } | { reason: string } {
  const engine = run(['docker', 'info'], 20_000);
  if (!engine.ok)
    return { reason: `no Docker engine answers \`docker info\`: ${engine.out.trim().split('\n').slice(-1)[0] ?? ''}` };
  if (run(['docker', 'compose', 'version'], 20_000).ok) return { compose: ['docker', 'compose'] };
  if (run(['docker-compose', 'version'], 20_000).ok) return { compose: ['docker-compose'] };
  return { reason: 'neither `docker compose` (v2 plugin) nor `docker-compose` (v1) is installed' };
}

function shellQuote(args: string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function say(line: string): void {
  process.stdout.write(`test:compose: ${line}\n`);
}

/** The experiment through --cluster-cmd at W = 1 and 5: converged, nothing lost, W read back. */
async function measure(
  composeCmd: (args: string[]) => string[],
  leader: string,
  followers: string[],
  token: string,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ql-compose-'));
  try {
    const r = await runExperiment(
      {
        quorums: '1,5',
        writes: 300,
        warmup: 50,
        clients: 4,
        keys: 100,
        seed: 1,
        analyze: false,
        leader,
        followers,
        replicationToken: token,
        clusterCmd: `WRITE_QUORUM={W} ${shellQuote(composeCmd(['up', '-d']))}`,
        clusterStopCmd: shellQuote(composeCmd(['down'])),
        clusterReadyTimeout: '180s',
        convergenceTimeout: '20s',
        out: join(dir, 'run'),
      },
      { onWarning: (m) => say(`warning: ${m}`) },
    );
    for (const q of r.results) {
      say(
        `W=${q.quorum}: ${q.ok} writes, ${q.achievedRate.toFixed(0)}/s, p50 ${q.latencyStats.p50} µs, p99 ${q.latencyStats.p99} µs, ` +
          `${q.convergence.converged ? 'converged' : 'NOT CONVERGED'}, lost ${q.lostWrites.lost}`,
      );
    }
    if (r.results.map((q) => q.quorum).join(',') !== '1,5')
      throw new CheckFailed(`expected steps W=1,5, got ${r.results.map((q) => q.quorum)}`);
    if (!r.converged) throw new CheckFailed('the compose cluster did not converge');
    if (!r.nothingLost) throw new CheckFailed('the compose cluster lost acknowledged writes');
    if (r.results.some((q) => q.ok !== 300))
      throw new CheckFailed(`not every write succeeded: ${r.results.map((q) => q.ok)}`);
    const meta = JSON.parse(await readFile(join(dir, 'run', 'meta.json'), 'utf8'));
    for (const w of ['1', '5']) {
      const reported = meta.cluster.perQuorum[w].reportedQuorum;
      if (String(reported) !== w) throw new CheckFailed(`W=${w} step: the leader reported W=${reported}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `docker stop` (SIGTERM) must end a node gracefully: exit code 0, for a follower and the leader. */
async function stopExitsZero(composeCmd: (args: string[]) => string[], urls: string[]): Promise<void> {
  must(composeCmd(['up', '-d']), 'compose up');
  const control = createControl(5000);
  try {
    await waitHealthy(control, urls, 180_000);
  } finally {
    await control.close();
  }
  for (const service of ['follower1', 'leader']) {
    const id = must(composeCmd(['ps', '-q', service]), `compose ps ${service}`);
    must(['docker', 'stop', '-t', '15', id], `docker stop ${service}`, 60_000);
    const code = must(['docker', 'inspect', '-f', '{{.State.ExitCode}}', id], `docker inspect ${service}`);
    say(`docker stop ${service}: exit code ${code}`);
    if (code !== '0') throw new CheckFailed(`${service} exited ${code} on docker stop (SIGTERM), expected 0`);
  }
}

/** The Dockerfile builds FROM node:20-slim: present locally, or pullable; else why not (null when fine). */
function baseImageProblem(): string | null {
  const has = (args: string[], timeoutMs: number): boolean =>
    spawnSync('docker', args, { stdio: 'ignore', timeout: timeoutMs }).status === 0;
  if (has(['image', 'inspect', 'node:20-slim'], 30_000)) return null;
  if (has(['pull', 'node:20-slim'], 120_000)) return null;
  return 'the node:20-slim base image is not here and cannot be pulled (no registry reachable; ../shared/tools/docker-offline-base.sh builds a local stand-in)';
}

async function main(): Promise<number> {
  const found = findCompose();
  if ('reason' in found) {
    say(`skipped: ${found.reason}`);
    return 3;
  }
  const base = baseImageProblem();
  if (base !== null) {
    say(`skipped: ${base}`);
    return 3;
  }
  const project = `qlcompose${process.pid}`;
  const composeCmd = (args: string[]): string[] => [
    ...found.compose,
    '-p',
    project,
    '-f',
    join(ROOT, 'docker-compose.yml'),
    ...args,
  ];
  const [leaderPort, ...followerPorts] = await freePorts(6);
  const token = randomBytes(16).toString('hex');
  // The compose file reads these; --cluster-cmd's shell inherits them.
  Object.assign(process.env, {
    LEADER_HOST_PORT: String(leaderPort),
    ...Object.fromEntries(FOLLOWERS.map((f, i) => [`${f.toUpperCase()}_HOST_PORT`, String(followerPorts[i])])),
    REPLICATION_TOKEN: token,
  });
  const leader = `http://127.0.0.1:${leaderPort}`;
  const followers = followerPorts.map((p) => `http://127.0.0.1:${p}`);
  say(`${found.compose.join(' ')}, project ${project}, leader ${leader}`);
  try {
    const started = Date.now();
    must(composeCmd(['build']), 'compose build');
    say(`image built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await measure(composeCmd, leader, followers, token);
    await stopExitsZero(composeCmd, [leader, ...followers]);
    say('passed');
    return 0;
  } catch (err) {
    say(`FAILED: ${(err as Error).message}`);
    return 1;
  } finally {
    run(composeCmd(['down', '--remove-orphans']), 120_000);
  }
}

process.exitCode = await main();
