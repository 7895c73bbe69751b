/**
 * --cluster-cmd / --cluster-stop-cmd: the user's own commands that start and stop an external
 * cluster at a given W (a seed-API cluster cannot switch W at run time). The start command must
 * return once the cluster is starting (e.g. `docker compose up -d`); readiness is then a wait until
 * every node answers GET /health.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Control } from './control.ts';

export class ClusterCommandError extends Error {
  readonly code = 'QL_ERR_CLUSTER_CMD';
  constructor(message: string) {
    super(message);
    this.name = 'ClusterCommandError';
  }
}

export interface CommandPorts {
  leaderUrl: string;
  followerUrls: readonly string[];
}

function portOf(url: string): string {
  const u = new URL(url);
  return u.port || (u.protocol === 'https:' ? '443' : '80');
}

/** Substitute {W}, {LEADER_PORT} and {FOLLOWER_PORTS} (comma list, in --followers order). */
export function fillCommand(template: string, quorum: number, ports: CommandPorts): string {
  return template
    .replaceAll('{W}', String(quorum))
    .replaceAll('{LEADER_PORT}', portOf(ports.leaderUrl))
    .replaceAll('{FOLLOWER_PORTS}', ports.followerUrls.map(portOf).join(','));
}

/** Run one command through the shell; rejects with its exit status and the tail of its output. */
export function runCommand(command: string, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new ClusterCommandError(`${what} ${JSON.stringify(command)} could not start: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const how = signal
        ? `was killed by ${signal}${signal === 'SIGTERM' ? ` after ${timeoutMs} ms` : ''}`
        : `exited ${code}`;
      const tail = output.trim().split('\n').slice(-5).join('\n  ');
      reject(new ClusterCommandError(`${what} ${JSON.stringify(command)} ${how}${tail ? `:\n  ${tail}` : ''}`));
    });
  });
}

/** Poll GET /health of every URL until all answer 2xx; rejects naming the nodes still not answering. */
export async function waitHealthy(
  control: Control,
  urls: readonly string[],
  timeoutMs: number,
  pollMs = 100,
): Promise<number> {
  const started = Date.now();
  let waiting = [...urls];
  let last = '';
  for (;;) {
    const answers = await Promise.all(
      waiting.map((u) =>
        control.getJson(u, '/health').then(
          () => null,
          (err: Error) => {
            last = err.message;
            return u;
          },
        ),
      ),
    );
    waiting = answers.filter((u): u is string => u !== null);
    if (waiting.length === 0) return Date.now() - started;
    if (Date.now() - started >= timeoutMs) {
      throw new ClusterCommandError(
        `${waiting.join(', ')} not healthy ${timeoutMs} ms after --cluster-cmd (last: ${last})`,
      );
    }
    await sleep(pollMs);
  }
}
