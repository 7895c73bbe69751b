/**
 * `npm run cluster`: leader on 127.0.0.1:8000, followers on 8001–8005 (by default), until Ctrl-C.
 * Honours WRITE_QUORUM, MIN_DELAY, MAX_DELAY, QUORUM_TIMEOUT, DELAY_SEED, SCHEDULER, SERVER and REPLICATION_TOKEN
 * from the environment; flags override them. Exit codes (lib/cli.ts): 0 stopped by Ctrl-C/SIGTERM, 1 a node
 * failed to start or crashed, 2 a bad flag or setting.
 */
import { hideBin } from 'yargs/helpers';
import { parseDurationMs } from '../lib/duration.ts';
import { cliFail, cliParser, EXIT_FAILURE, flagOrEnv } from '../lib/cli.ts';
import {
  ClusterError,
  DEFAULT_FOLLOWER_COUNT,
  DEFAULT_LEADER_PORT,
  defaultFollowerPorts,
  startCluster,
  type RunningCluster,
  type ClusterOptions,
} from './cluster.ts';
import type { LeaderPriority } from './priority.ts';
import {
  ConfigError,
  DEFAULT_HOST,
  DEFAULT_MAX_DELAY_MS,
  DEFAULT_MIN_DELAY_MS,
  DEFAULT_QUORUM_TIMEOUT_MS,
  DEFAULT_SCHEDULER,
  DEFAULT_SERVER,
  DEFAULT_WRITE_QUORUM,
  parseIntegerOption,
  parsePort,
  parseScheduler,
  parseServerKind,
  parseSeed,
} from './config.ts';
import { formatDurationMs } from '../lib/duration.ts';

const NAME = 'cluster';
const argv = cliParser(
  NAME,
  'npm run cluster --',
  '$0 [options]\n\nStart a leader and its followers as local processes; Ctrl-C stops them all.\nEach setting also comes from its environment variable (in brackets); a flag wins.',
  hideBin(process.argv),
)
  .option('quorum', {
    alias: 'w',
    type: 'string',
    describe: `write quorum W [WRITE_QUORUM]`,
    defaultDescription: `${DEFAULT_WRITE_QUORUM}, at most the follower count`,
  })
  .option('follower-count', {
    alias: 'n',
    type: 'string',
    describe: 'number of followers',
    defaultDescription: String(DEFAULT_FOLLOWER_COUNT),
  })
  .option('followers', { type: 'string', hidden: true })
  .option('min-delay', {
    type: 'string',
    describe: 'min replication delay, e.g. 100us, 0.1ms [MIN_DELAY]',
    defaultDescription: `${DEFAULT_MIN_DELAY_MS}ms`,
  })
  .option('max-delay', {
    type: 'string',
    describe: 'max replication delay [MAX_DELAY]',
    defaultDescription: `${DEFAULT_MAX_DELAY_MS}ms`,
  })
  .option('quorum-timeout', {
    type: 'string',
    describe: 'how long a write waits for W acks [QUORUM_TIMEOUT]',
    defaultDescription: `${DEFAULT_QUORUM_TIMEOUT_MS}ms`,
  })
  .option('seed', { type: 'string', describe: 'delay seed, uint32 [DELAY_SEED]', defaultDescription: 'random' })
  .option('scheduler', {
    type: 'string',
    describe: 'precise | timeout [SCHEDULER]',
    defaultDescription: DEFAULT_SCHEDULER,
  })
  .option('leader-priority', {
    type: 'string',
    choices: ['auto', 'realtime', 'normal'],
    describe:
      "priority of the leader's replication thread: auto = SCHED_FIFO for that thread alone when permitted (injected delays stay precise when the CPUs are busy); realtime = required; normal = never",
    default: 'auto',
  })
  .option('server', {
    type: 'string',
    describe: 'HTTP server of every node: http (node:http) or express (the Express 5 app) [SERVER]',
    defaultDescription: DEFAULT_SERVER,
  })
  .option('host', { type: 'string', describe: 'interface to bind', default: DEFAULT_HOST })
  .option('leader-port', {
    type: 'string',
    describe: 'leader port (0 = ephemeral)',
    default: String(DEFAULT_LEADER_PORT),
  })
  .option('follower-ports', {
    type: 'string',
    describe: 'comma-separated follower ports (default: leader port + 1, + 2, ...; all 0 if the leader port is 0)',
  })
  .option('quiet', { alias: 'q', type: 'boolean', describe: "do not echo the nodes' output", default: false })
  .parseSync();

/** Everything from the command line and the environment, validated; errors name the flag (or the variable it came from). */
function resolveCliOptions(): ClusterOptions & {
  writeQuorum: number;
  minDelayMs: number;
  maxDelayMs: number;
  quorumTimeoutMs: number;
  scheduler: 'precise' | 'timeout';
  server: 'http' | 'express';
} {
  if (argv.followers !== undefined) {
    throw new ConfigError(
      '--followers',
      'is a list of follower URLs in `npm run experiment`; here the number of followers is --follower-count (-n)',
    );
  }
  const followers = parseIntegerOption(
    argv['follower-count'] ?? String(DEFAULT_FOLLOWER_COUNT),
    '--follower-count',
    1,
    100,
  );
  const leaderPort = parsePort(argv['leader-port'], '--leader-port');
  const followerPorts =
    argv['follower-ports'] !== undefined
      ? argv['follower-ports'].split(',').map((p) => parsePort(p, '--follower-ports'))
      : leaderPort === 0
        ? new Array<number>(followers).fill(0)
        : defaultFollowerPorts(followers, leaderPort);
  const quorum = flagOrEnv(argv.quorum, '--quorum', 'WRITE_QUORUM');
  const minDelay = flagOrEnv(argv['min-delay'], '--min-delay', 'MIN_DELAY');
  const maxDelay = flagOrEnv(argv['max-delay'], '--max-delay', 'MAX_DELAY');
  const quorumTimeout = flagOrEnv(argv['quorum-timeout'], '--quorum-timeout', 'QUORUM_TIMEOUT');
  const seed = flagOrEnv(argv.seed, '--seed', 'DELAY_SEED');
  const scheduler = flagOrEnv(argv.scheduler, '--scheduler', 'SCHEDULER');
  const server = flagOrEnv(argv.server, '--server', 'SERVER');
  return {
    writeQuorum:
      quorum.value === undefined
        ? Math.min(DEFAULT_WRITE_QUORUM, followers)
        : parseIntegerOption(quorum.value, quorum.name, 1, followers),
    followers,
    minDelayMs: parseDurationMs(minDelay.value ?? DEFAULT_MIN_DELAY_MS, minDelay.name),
    maxDelayMs: parseDurationMs(maxDelay.value ?? DEFAULT_MAX_DELAY_MS, maxDelay.name),
    quorumTimeoutMs: parseDurationMs(quorumTimeout.value ?? DEFAULT_QUORUM_TIMEOUT_MS, quorumTimeout.name),
    ...(seed.value !== undefined ? { delaySeed: parseSeed(seed.value, seed.name) } : {}),
    server: parseServerKind(server.value ?? DEFAULT_SERVER, server.name),
    scheduler: parseScheduler(scheduler.value ?? DEFAULT_SCHEDULER, scheduler.name),
    leaderPriority: argv['leader-priority'] as LeaderPriority,
    host: argv.host,
    // Admin endpoints then need `Authorization: Bearer $REPLICATION_TOKEN`.
    ...(process.env.REPLICATION_TOKEN ? { replicationToken: process.env.REPLICATION_TOKEN } : {}),
    leaderPort,
    followerPorts,
    log: argv.quiet ? undefined : (node: string, line: string) => process.stderr.write(`[${node}] ${line}\n`),
  };
}

let options: ReturnType<typeof resolveCliOptions>;
try {
  options = resolveCliOptions();
} catch (err) {
  cliFail(NAME, (err as Error).message);
}

let stopping = false;
const t0 = performance.now();
let cluster: RunningCluster;
try {
  cluster = await startCluster(options);
} catch (err) {
  if (err instanceof ConfigError) cliFail(NAME, err.message);
  if (err instanceof ClusterError) cliFail(NAME, err.message, EXIT_FAILURE);
  throw err;
}

const c = cluster;
const ms = ((performance.now() - t0) / 1000).toFixed(2);
const lines = [
  `quorum-lab cluster ready in ${ms} s: W=${options.writeQuorum}, delays ${formatDurationMs(options.minDelayMs)}..${formatDurationMs(options.maxDelayMs)}, quorum timeout ${formatDurationMs(options.quorumTimeoutMs)}, scheduler ${options.scheduler}, server ${c.server}, leader priority ${c.leaderPriority}`,
  ...c.nodes.map((n) => `  ${n.name.padEnd(10)} ${n.url}  (pid ${n.pid})`),
  ...(c.replicationToken
    ? ['REPLICATION_TOKEN is set: /replicate, /snapshot, PUT /config and POST /stats/reset need it.']
    : []),
  'Ctrl-C to stop.',
];
process.stdout.write(`${lines.join('\n')}\n`);

async function stop(reason: string, code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`cluster: ${reason}; stopping all nodes\n`);
  await c.stop();
  process.exit(code);
}

c.onUnexpectedExit(
  (e) => void stop(`${e.name} (pid ${e.pid}) exited unexpectedly (code ${e.code}, signal ${e.signal})`, 1),
);
process.on('SIGINT', () => void stop('SIGINT', 0));
process.on('SIGTERM', () => void stop('SIGTERM', 0));
