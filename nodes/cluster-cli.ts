/**
 * `npm run cluster`: leader on 127.0.0.1:8000, followers on 8001–8005 (by default), until Ctrl-C.
 * Honours WRITE_QUORUM, MIN_DELAY, MAX_DELAY, QUORUM_TIMEOUT, DELAY_SEED, SCHEDULER and REPLICATION_TOKEN from the
 * environment; flags override them.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { parseDurationMs } from '../lib/duration.ts';
import { ClusterError, DEFAULT_FOLLOWER_COUNT, DEFAULT_LEADER_PORT, defaultFollowerPorts, startCluster } from './cluster.ts';
import type { LeaderPriority } from './priority.ts';
import {
  ConfigError,
  DEFAULT_HOST,
  DEFAULT_MAX_DELAY_MS,
  DEFAULT_MIN_DELAY_MS,
  DEFAULT_QUORUM_TIMEOUT_MS,
  DEFAULT_SCHEDULER,
  DEFAULT_WRITE_QUORUM,
  parseIntegerOption,
  parsePort,
  parseScheduler,
  parseServerKind,
  DEFAULT_SERVER,
  parseSeed,
} from './config.ts';
import { formatDurationMs } from '../lib/duration.ts';

const env = process.env;
const argv = yargs(hideBin(process.argv))
  .scriptName('npm run cluster --')
  .usage('$0 [options]\n\nStart a leader and its followers as local processes; Ctrl-C stops them all.')
  .option('quorum', { alias: 'w', type: 'string', describe: `write quorum W (env WRITE_QUORUM) [default: ${DEFAULT_WRITE_QUORUM}, at most the number of followers]`, default: env.WRITE_QUORUM || undefined })
  .option('followers', { alias: 'n', type: 'string', describe: 'number of followers', default: String(DEFAULT_FOLLOWER_COUNT) })
  .option('min-delay', { type: 'string', describe: 'min replication delay, e.g. 100us, 0.1ms (env MIN_DELAY)', default: env.MIN_DELAY || `${DEFAULT_MIN_DELAY_MS}ms` })
  .option('max-delay', { type: 'string', describe: 'max replication delay (env MAX_DELAY)', default: env.MAX_DELAY || `${DEFAULT_MAX_DELAY_MS}ms` })
  .option('quorum-timeout', { type: 'string', describe: 'how long a write waits for W acks (env QUORUM_TIMEOUT)', default: env.QUORUM_TIMEOUT || `${DEFAULT_QUORUM_TIMEOUT_MS}ms` })
  .option('seed', { type: 'string', describe: 'delay seed, uint32 (env DELAY_SEED)', default: env.DELAY_SEED || undefined })
  .option('scheduler', { type: 'string', describe: 'precise | timeout (env SCHEDULER)', default: env.SCHEDULER || DEFAULT_SCHEDULER })
  .option('leader-priority', { type: 'string', choices: ['auto', 'realtime', 'normal'], describe: "priority of the leader's replication thread: auto = SCHED_FIFO for that thread alone when permitted (injected delays stay precise when the CPUs are busy); realtime = required; normal = never", default: 'auto' })
  .option('server', { type: 'string', describe: 'HTTP server of every node: http (node:http) or express (the Express 5 app) (env SERVER)', default: env.SERVER || DEFAULT_SERVER })
  .option('host', { type: 'string', describe: 'interface to bind', default: DEFAULT_HOST })
  .option('leader-port', { type: 'string', describe: 'leader port (0 = ephemeral)', default: String(DEFAULT_LEADER_PORT) })
  .option('follower-ports', { type: 'string', describe: 'comma-separated follower ports (default: leader port + 1, + 2, ...; all 0 if the leader port is 0)' })
  .option('quiet', { alias: 'q', type: 'boolean', describe: 'do not echo the nodes\' output', default: false })
  .strict()
  .help()
  .parseSync();

function fatal(message: string): never {
  process.stderr.write(`cluster: ${message}\n`);
  process.exit(1);
}

let options;
try {
  const followers = parseIntegerOption(argv.followers, '--followers', 1, 100);
  const leaderPort = parsePort(argv['leader-port'], '--leader-port');
  const followerPorts =
    argv['follower-ports'] !== undefined
      ? argv['follower-ports'].split(',').map((p) => parsePort(p, '--follower-ports'))
      : leaderPort === 0
        ? new Array<number>(followers).fill(0)
        : defaultFollowerPorts(followers, leaderPort);
  options = {
    writeQuorum:
      argv.quorum === undefined
        ? Math.min(DEFAULT_WRITE_QUORUM, followers)
        : parseIntegerOption(argv.quorum, '--quorum/WRITE_QUORUM', 1, followers),
    followers,
    minDelayMs: parseDurationMs(argv['min-delay'], '--min-delay/MIN_DELAY'),
    maxDelayMs: parseDurationMs(argv['max-delay'], '--max-delay/MAX_DELAY'),
    quorumTimeoutMs: parseDurationMs(argv['quorum-timeout'], '--quorum-timeout/QUORUM_TIMEOUT'),
    ...(argv.seed !== undefined ? { delaySeed: parseSeed(argv.seed, '--seed/DELAY_SEED') } : {}),
    server: parseServerKind(argv.server, '--server'),
    scheduler: parseScheduler(argv.scheduler, '--scheduler/SCHEDULER'),
    leaderPriority: argv['leader-priority'] as LeaderPriority,
    host: argv.host,
    // Admin endpoints then need `Authorization: Bearer $REPLICATION_TOKEN`.
    ...(env.REPLICATION_TOKEN ? { replicationToken: env.REPLICATION_TOKEN } : {}),
    leaderPort,
    followerPorts,
    log: argv.quiet ? undefined : (node: string, line: string) => process.stderr.write(`[${node}] ${line}\n`),
  };
} catch (err) {
  fatal((err as Error).message);
}

let stopping = false;
const t0 = performance.now();
let cluster;
try {
  cluster = await startCluster(options);
} catch (err) {
  if (err instanceof ClusterError || err instanceof ConfigError) fatal(err.message);
  throw err;
}

const c = cluster;
const ms = ((performance.now() - t0) / 1000).toFixed(2);
const lines = [
  `quorum-lab cluster ready in ${ms} s: W=${options.writeQuorum}, delays ${formatDurationMs(options.minDelayMs)}..${formatDurationMs(options.maxDelayMs)}, quorum timeout ${formatDurationMs(options.quorumTimeoutMs)}, scheduler ${options.scheduler}, server ${c.server}, leader priority ${c.leaderPriority}`,
  ...c.nodes.map((n) => `  ${n.name.padEnd(10)} ${n.url}  (pid ${n.pid})`),
  ...(c.replicationToken ? ['REPLICATION_TOKEN is set: /replicate, /snapshot, PUT /config and POST /stats/reset need it.'] : []),
  'Ctrl-C to stop.',
];
process.stdout.write(lines.join('\n') + '\n');

async function stop(reason: string, code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`cluster: ${reason}; stopping all nodes\n`);
  await c.stop();
  process.exit(code);
}

c.onUnexpectedExit((e) => void stop(`${e.name} (pid ${e.pid}) exited unexpectedly (code ${e.code}, signal ${e.signal})`, 1));
process.on('SIGINT', () => void stop('SIGINT', 0));
process.on('SIGTERM', () => void stop('SIGTERM', 0));
