/**
 * Entry point of one node process: environment → leader or follower server.
 *
 * Exit codes: 0 after a graceful SIGTERM/SIGINT, 2 for bad configuration, 3 when the port is
 * taken, 1 for anything else. With an IPC channel (started by nodes/cluster.ts) it reports
 * `{cmd:'listening', data:{port, role}}` or `{cmd:'error', data:{code, message, port?}}`, and shuts
 * down when the parent goes away so no node outlives its launcher.
 */
import { ConfigError, parseNodeEnv, type NodeEnvConfig } from './config.ts';
import type { NodeServer } from './follower.ts';

export const EXIT_CONFIG = 2;
export const EXIT_PORT_IN_USE = 3;

/** Send an IPC message to the launcher (if any) and wait until it is handed to the channel. */
function report(msg: unknown): Promise<void> {
  return new Promise((resolve) => {
    if (process.send && process.connected) process.send(msg, undefined, {}, () => resolve());
    else resolve();
  });
}

async function fail(
  code: string,
  message: string,
  exitCode: number,
  extra: Record<string, unknown> = {},
): Promise<never> {
  process.stderr.write(`quorum-lab node: ${message}\n`);
  await report({ cmd: 'error', data: { code, message, ...extra } });
  process.exit(exitCode);
}

let config: NodeEnvConfig;
try {
  config = parseNodeEnv(process.env);
} catch (err) {
  if (err instanceof ConfigError) await fail(err.code, `invalid configuration: ${err.message}`, EXIT_CONFIG);
  throw err;
}

// Each role loads only its own modules: a follower never needs undici, the HDR histograms or the
// delay scheduler, and a node:http node never loads Express; start-up time is mostly module loading.
const createListener =
  config.server === 'express' ? (await import('./express-app.ts')).createExpressListener : undefined;
const node: NodeServer =
  config.role === 'leader'
    ? (await import('./leader.ts')).createLeader({
        followers: config.followers,
        writeQuorum: config.writeQuorum,
        minDelayMs: config.minDelayMs,
        maxDelayMs: config.maxDelayMs,
        quorumTimeoutMs: config.quorumTimeoutMs,
        replicationTimeoutMs: config.replicationTimeoutMs,
        delaySeed: config.delaySeed,
        scheduler: config.scheduler,
        priority: config.leaderPriority,
        replicationToken: config.replicationToken,
        traceCapacity: config.traceCapacity,
        createListener,
      })
    : (await import('./follower.ts')).createFollower({
        ...(config.leaderUrl ? { leaderUrl: config.leaderUrl } : {}),
        replicationToken: config.replicationToken,
        traceCapacity: config.traceCapacity,
        createListener,
      });

let shuttingDown = false;
async function shutdown(why: string): Promise<void> {
  if (shuttingDown) {
    // A second signal means "now".
    process.exit(1);
  }
  shuttingDown = true;
  process.stderr.write(`quorum-lab node: ${config.role} stopping (${why})\n`);
  await node.close();
  process.exit(0);
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
if (process.send) process.on('disconnect', () => void shutdown('launcher went away'));

try {
  const { port, url } = await node.listen(config.port, config.host);
  process.stdout.write(
    `quorum-lab node: ${config.role} listening on ${url} (bound to ${config.host}:${port}, server ${config.server})\n`,
  );
  await report({ cmd: 'listening', data: { port, role: config.role, server: config.server } });
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EADDRINUSE') {
    await fail('EADDRINUSE', `port ${config.port} on ${config.host} is already in use`, EXIT_PORT_IN_USE, {
      port: config.port,
    });
  }
  await fail(e.code ?? 'LISTEN_FAILED', `cannot listen on ${config.host}:${config.port}: ${e.message}`, 1, {
    port: config.port,
  });
}
