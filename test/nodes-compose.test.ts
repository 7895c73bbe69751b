import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import {
  CONTAINER_PORT,
  DEFAULT_FOLLOWER_COUNT,
  DEFAULT_FOLLOWER_PORTS,
  DEFAULT_LEADER_PORT,
  NODE_ENV_NAMES,
  composeFollowerUrls,
  followerName,
} from '../nodes/cluster.ts';
import { parseNodeEnv } from '../nodes/config.ts';

// No Docker engine runs here: check docker-compose.yml and the Dockerfile against the launcher's own defaults.
const root = new URL('../', import.meta.url);
const compose = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8'), { merge: true });
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');

/** Resolve `${VAR:-default}` the way compose does with an empty shell environment. */
function interpolate(env: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1')]),
  );
}

describe('docker-compose.yml', () => {
  const names = ['leader', ...Array.from({ length: DEFAULT_FOLLOWER_COUNT }, (_, i) => followerName(i))];

  test('services: leader and follower1..5', () => {
    expect(Object.keys(compose.services).sort()).toEqual([...names].sort());
  });

  test('host ports match npm run cluster, published on 127.0.0.1 unless BIND_ADDRESS opts in; container port 5000', () => {
    const port = (svc: string): string => interpolate({ p: compose.services[svc].ports[0] }).p!;
    expect(compose.services.leader.ports).toHaveLength(1);
    expect(port('leader')).toBe(`127.0.0.1:${DEFAULT_LEADER_PORT}:${CONTAINER_PORT}`);
    DEFAULT_FOLLOWER_PORTS.forEach((p, i) => {
      expect(port(followerName(i))).toBe(`127.0.0.1:${p}:${CONTAINER_PORT}`);
    });
    for (const name of names) expect(compose.services[name].ports[0]).toMatch(/^\$\{BIND_ADDRESS:-127\.0\.0\.1\}:/);
  });

  test('environment: only known variables; each node parses to the intended config', () => {
    for (const name of names) {
      const env = interpolate(compose.services[name].environment);
      for (const k of Object.keys(env)) expect(NODE_ENV_NAMES as readonly string[]).toContain(k);
      expect(env).toMatchObject({
        PORT: String(CONTAINER_PORT),
        HOST: '0.0.0.0',
        ROLE: name === 'leader' ? 'leader' : 'follower',
      });
    }
    const leaderEnv = interpolate(compose.services.leader.environment);
    for (const k of ['WRITE_QUORUM', 'MIN_DELAY', 'MAX_DELAY', 'FOLLOWERS', 'QUORUM_TIMEOUT'])
      expect(leaderEnv).toHaveProperty(k);
    expect(leaderEnv.FOLLOWERS).toBe(composeFollowerUrls().join(','));
    expect(parseNodeEnv(leaderEnv)).toMatchObject({
      role: 'leader',
      port: CONTAINER_PORT,
      host: '0.0.0.0',
      followers: composeFollowerUrls(),
      writeQuorum: 3,
      minDelayMs: 0.1,
      maxDelayMs: 1,
      quorumTimeoutMs: 2000,
    });
    expect(parseNodeEnv(interpolate(compose.services.follower1.environment))).toMatchObject({
      role: 'follower',
      leaderUrl: `http://leader:${CONTAINER_PORT}`,
    });
  });

  test('every node gets the same REPLICATION_TOKEN, overridable from the shell', () => {
    const tokens = names.map((name) => compose.services[name].environment.REPLICATION_TOKEN);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).toMatch(/^\$\{REPLICATION_TOKEN:-[\x21-\x7e]+\}$/);
    for (const name of names)
      expect(parseNodeEnv(interpolate(compose.services[name].environment)).replicationToken).toBeTruthy();
  });

  test('one bridge network, health checks on /health, leader waits for healthy followers', () => {
    const [net] = Object.keys(compose.networks);
    expect(compose.networks[net!].driver).toBe('bridge');
    for (const name of names) {
      const svc = compose.services[name];
      expect(svc.networks).toEqual([net]);
      expect(svc.healthcheck.test.join(' ')).toContain(`127.0.0.1:${CONTAINER_PORT}/health`);
      expect(svc.build ?? svc.image).toBeTruthy();
    }
    expect(Object.keys(compose.services.leader.depends_on).sort()).toEqual(names.filter((n) => n !== 'leader').sort());
  });
});

describe('Dockerfile', () => {
  test('runs the node bundle (no tsx, no node_modules) as a non-root user on the container port', () => {
    expect(dockerfile).toMatch(/^FROM node:20/m);
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${CONTAINER_PORT}$`, 'm'));
    expect(dockerfile).toMatch(/^RUN node lib\/build-node.mjs \/out$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "main.mjs"\]$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    const runStage = dockerfile
      .slice(dockerfile.lastIndexOf('\nFROM '))
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
    expect(runStage).not.toMatch(/tsx|node_modules|npm ci/);
  });
});
