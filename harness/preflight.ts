/**
 * Checks that need the machine rather than the option values: ports free, run folder unused,
 * external cluster reachable. They fail as OptionErrors (exit code 2) before any node starts.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ControlError, type Control } from './control.ts';
import { LOCAL_FOLLOWERS, OptionError, type ExperimentOptions } from './options.ts';

export function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function preflight(options: ExperimentOptions, control: Control): Promise<void> {
  if (existsSync(join(options.out, 'summary.csv'))) {
    throw new OptionError('out', `${options.out} already holds a run (summary.csv); choose another folder`);
  }
  if (options.basePort > 0) {
    for (let port = options.basePort; port <= options.basePort + LOCAL_FOLLOWERS; port++) {
      if (!(await portFree(port))) throw new OptionError('base-port', `port ${port} is already in use`);
    }
  }
  if (options.leader && options.followers) {
    for (const [flag, url] of [['leader', options.leader], ...options.followers.map((u) => ['followers', u])] as [string, string][]) {
      try {
        await control.getJson(url, '/health');
      } catch (err) {
        throw new OptionError(flag, `${url} is not reachable (${(err as Error).message})`);
      }
    }
    // The first step sets this quorum anyway; doing it now tells a missing or wrong token apart
    // from a failed run, before anything starts.
    try {
      await control.withToken(options.replicationToken).sendJson('PUT', options.leader, '/config', { writeQuorum: options.quorums[0] });
    } catch (err) {
      if (err instanceof ControlError && err.status === 401) {
        throw new OptionError('replication-token', `${options.leader} refuses PUT /config: ${err.message.replace(/^.*answered 401: /, '')}`);
      }
      throw err;
    }
  }
}
