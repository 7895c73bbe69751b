/**
 * Checks that need the machine rather than the option values: ports free, run folder unused,
 * external cluster reachable. They fail as OptionErrors (exit code 2) before any node starts.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { probeCapabilities, reportedQuorum } from './capabilities.ts';
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
  // With --cluster-cmd the cluster is not up yet: each step checks it after starting it.
  if (options.leader && options.followers && options.clusterCmd === null) await checkExternal(options, control);
}

async function checkExternal(options: ExperimentOptions, control: Control): Promise<void> {
  const leader = options.leader!;
  for (const [flag, url] of [['leader', leader], ...options.followers!.map((u) => ['followers', u])] as [
    string,
    string,
  ][]) {
    try {
      await control.getJson(url, '/health');
    } catch (err) {
      throw new OptionError(flag, `${url} is not reachable (${(err as Error).message})`);
    }
  }
  const caps = await probeCapabilities(control, leader);
  if (!caps.config) {
    if (options.quorums.length > 1) {
      throw new OptionError(
        'quorums',
        `${leader} has no PUT /config, so its W cannot be switched: name the one W it runs (e.g. --quorums ${reportedQuorum(caps.leaderConfig) ?? 3}) or give --cluster-cmd to start it per W`,
      );
    }
    return;
  }
  // The first step sets this quorum anyway; doing it now tells a missing or wrong token apart
  // from a failed run, before anything starts.
  try {
    await control
      .withToken(options.replicationToken)
      .sendJson('PUT', leader, '/config', { writeQuorum: options.quorums[0] });
  } catch (err) {
    if (err instanceof ControlError && err.status === 401) {
      throw new OptionError(
        'replication-token',
        `${leader} refuses PUT /config: ${err.message.replace(/^.*answered 401: /, '')}`,
      );
    }
    throw err;
  }
}
