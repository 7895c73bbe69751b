import { describe, expect, test } from 'vitest';
import { ConfigError, parseNodeEnv, type LeaderEnvConfig } from '../nodes/config.ts';
import { createLeader } from '../nodes/leader.ts';

const F5 =
  'http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003,http://127.0.0.1:8004,http://127.0.0.1:8005';
const leaderEnv = (extra: Record<string, string>) => ({ ROLE: 'leader', FOLLOWERS: F5, ...extra });
const leader = (extra: Record<string, string>) => parseNodeEnv(leaderEnv(extra)) as LeaderEnvConfig;

describe('parseNodeEnv: accepted forms', () => {
  test('follower defaults', () => {
    expect(parseNodeEnv({ ROLE: 'follower' })).toEqual({
      role: 'follower',
      port: 5000,
      host: '127.0.0.1',
      server: 'http',
    });
  });

  test('follower with port, host and leader URL (leader-only settings ignored)', () => {
    expect(
      parseNodeEnv({
        ROLE: 'follower',
        PORT: '0',
        HOST: '0.0.0.0',
        LEADER_URL: 'http://leader:5000/',
        WRITE_QUORUM: '9',
      }),
    ).toEqual({ role: 'follower', port: 0, host: '0.0.0.0', server: 'http', leaderUrl: 'http://leader:5000' });
  });

  test('leader defaults', () => {
    expect(parseNodeEnv({ ROLE: 'leader', FOLLOWERS: F5 })).toEqual({
      role: 'leader',
      port: 5000,
      host: '127.0.0.1',
      server: 'http',
      followers: F5.split(','),
      writeQuorum: 3,
      minDelayMs: 0.1,
      maxDelayMs: 1,
      quorumTimeoutMs: 2000,
      replicationTimeoutMs: 5000,
      scheduler: 'precise',
      leaderPriority: 'auto',
    });
  });

  test('LEADER_PRIORITY: auto, realtime or normal', () => {
    expect(leader({ LEADER_PRIORITY: 'normal' }).leaderPriority).toBe('normal');
    expect(leader({ LEADER_PRIORITY: 'realtime' }).leaderPriority).toBe('realtime');
    expect(() => leader({ LEADER_PRIORITY: 'high' })).toThrow(
      /^LEADER_PRIORITY: must be one of auto, realtime, normal/,
    );
  });

  test('REPLICATION_TOKEN: taken as given for both roles; unset or empty means none; spaces are refused', () => {
    expect(parseNodeEnv({ ROLE: 'follower', REPLICATION_TOKEN: 'abc-123' })).toMatchObject({
      replicationToken: 'abc-123',
    });
    expect(leader({ REPLICATION_TOKEN: 'abc-123' }).replicationToken).toBe('abc-123');
    expect(parseNodeEnv({ ROLE: 'follower', REPLICATION_TOKEN: '' })).not.toHaveProperty('replicationToken');
    expect(() => parseNodeEnv({ ROLE: 'follower', REPLICATION_TOKEN: 'a b' })).toThrow(/^REPLICATION_TOKEN: /);
    expect(() => leader({ REPLICATION_TOKEN: 'x'.repeat(2000) })).toThrow(ConfigError);
  });

  test('default W is capped at the number of followers', () => {
    expect(leader({ FOLLOWERS: 'http://a:1,http://b:2' }).writeQuorum).toBe(2);
  });

  test('FOLLOWERS tolerates spaces and trailing slashes, keeps order', () => {
    expect(leader({ FOLLOWERS: ' http://follower1:5000/ , https://b.example:8443' }).followers).toEqual([
      'http://follower1:5000',
      'https://b.example:8443',
    ]);
  });

  test.each(['100us', '100µs', '0.1ms', '0.0001s', '0.1', ' 0.1ms '])('MIN_DELAY=%j is 0.1 ms', (v) => {
    expect(leader({ MIN_DELAY: v }).minDelayMs).toBeCloseTo(0.1, 12);
  });

  test.each(['1', '1ms', '1000us', '0.001s'])('MAX_DELAY=%j is 1 ms', (v) => {
    expect(leader({ MAX_DELAY: v }).maxDelayMs).toBeCloseTo(1, 12);
  });

  test('MIN_DELAY = MAX_DELAY and zero delays are allowed', () => {
    expect(leader({ MIN_DELAY: '0', MAX_DELAY: '0' })).toMatchObject({ minDelayMs: 0, maxDelayMs: 0 });
    expect(leader({ MIN_DELAY: '500us', MAX_DELAY: '0.5ms' })).toMatchObject({ minDelayMs: 0.5, maxDelayMs: 0.5 });
  });

  test.each([
    ['2s', 2000],
    ['500', 500],
    ['250ms', 250],
  ])('QUORUM_TIMEOUT=%j is %d ms', (v, ms) => {
    expect(leader({ QUORUM_TIMEOUT: v }).quorumTimeoutMs).toBe(ms);
  });

  test.each(['1', '3', '5', ' 2 '])('WRITE_QUORUM=%j', (v) => {
    expect(leader({ WRITE_QUORUM: v }).writeQuorum).toBe(Number(v));
  });

  test.each([
    ['0', 0],
    ['42', 42],
    ['4294967295', 4294967295],
  ])('DELAY_SEED=%j', (v, n) => {
    expect(leader({ DELAY_SEED: v }).delaySeed).toBe(n);
  });

  test('empty optional variables count as unset', () => {
    const c = leader({ DELAY_SEED: '', WRITE_QUORUM: ' ', MIN_DELAY: '', SCHEDULER: '' });
    expect(c.delaySeed).toBeUndefined();
    expect(c).toMatchObject({ writeQuorum: 3, minDelayMs: 0.1, scheduler: 'precise' });
  });

  test('SERVER: http by default, express when asked, for either role', () => {
    expect(leader({}).server).toBe('http');
    expect(leader({ SERVER: 'express' }).server).toBe('express');
    expect(parseNodeEnv({ ROLE: 'follower', SERVER: 'express' })).toMatchObject({
      role: 'follower',
      server: 'express',
    });
  });

  test('SCHEDULER=timeout, PORT=65535, REPLICATION_TIMEOUT=1s', () => {
    expect(leader({ SCHEDULER: 'timeout', PORT: '65535', REPLICATION_TIMEOUT: '1s' })).toMatchObject({
      scheduler: 'timeout',
      port: 65535,
      replicationTimeoutMs: 1000,
    });
  });
});

describe('parseNodeEnv: rejected forms name the variable', () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ['ROLE missing', { FOLLOWERS: F5 }, 'ROLE'],
    ['ROLE wrong case', { ROLE: 'Leader' }, 'ROLE'],
    ['ROLE unknown', { ROLE: 'boss' }, 'ROLE'],
    ['PORT negative', { ROLE: 'follower', PORT: '-1' }, 'PORT'],
    ['PORT too large', { ROLE: 'follower', PORT: '65536' }, 'PORT'],
    ['PORT fractional', { ROLE: 'follower', PORT: '80.5' }, 'PORT'],
    ['PORT text', { ROLE: 'follower', PORT: 'http' }, 'PORT'],
    ['LEADER_URL not a URL', { ROLE: 'follower', LEADER_URL: 'leader' }, 'LEADER_URL'],
    ['FOLLOWERS missing', { ROLE: 'leader' }, 'FOLLOWERS'],
    ['FOLLOWERS not a URL', { ROLE: 'leader', FOLLOWERS: 'follower1' }, 'FOLLOWERS'],
    ['FOLLOWERS wrong scheme', { ROLE: 'leader', FOLLOWERS: 'ftp://a:1' }, 'FOLLOWERS'],
    ['FOLLOWERS with a path', { ROLE: 'leader', FOLLOWERS: 'http://a:1/replicate' }, 'FOLLOWERS'],
    ['FOLLOWERS with a query', { ROLE: 'leader', FOLLOWERS: 'http://a:1?x=1' }, 'FOLLOWERS'],
    ['FOLLOWERS duplicate', { ROLE: 'leader', FOLLOWERS: 'http://a:1,http://a:1/' }, 'FOLLOWERS'],
    ['FOLLOWERS empty entry', { ROLE: 'leader', FOLLOWERS: 'http://a:1,,http://b:2' }, 'FOLLOWERS'],
    ['WRITE_QUORUM 0', leaderEnv({ WRITE_QUORUM: '0' }), 'WRITE_QUORUM'],
    ['WRITE_QUORUM above followers', leaderEnv({ WRITE_QUORUM: '6' }), 'WRITE_QUORUM'],
    [
      'WRITE_QUORUM default above 1 follower is fine, explicit 2 is not',
      { ROLE: 'leader', FOLLOWERS: 'http://a:1', WRITE_QUORUM: '2' },
      'WRITE_QUORUM',
    ],
    ['WRITE_QUORUM fractional', leaderEnv({ WRITE_QUORUM: '2.5' }), 'WRITE_QUORUM'],
    ['WRITE_QUORUM negative', leaderEnv({ WRITE_QUORUM: '-1' }), 'WRITE_QUORUM'],
    ['WRITE_QUORUM word', leaderEnv({ WRITE_QUORUM: 'three' }), 'WRITE_QUORUM'],
    ['MIN_DELAY text', leaderEnv({ MIN_DELAY: 'abc' }), 'MIN_DELAY'],
    ['MIN_DELAY negative', leaderEnv({ MIN_DELAY: '-1ms' }), 'MIN_DELAY'],
    ['MIN_DELAY unknown unit', leaderEnv({ MIN_DELAY: '1h' }), 'MIN_DELAY'],
    ['MAX_DELAY text', leaderEnv({ MAX_DELAY: '1 msec' }), 'MAX_DELAY'],
    ['MIN_DELAY above MAX_DELAY', leaderEnv({ MIN_DELAY: '2ms', MAX_DELAY: '1ms' }), 'MIN_DELAY'],
    ['QUORUM_TIMEOUT zero', leaderEnv({ QUORUM_TIMEOUT: '0' }), 'QUORUM_TIMEOUT'],
    ['QUORUM_TIMEOUT text', leaderEnv({ QUORUM_TIMEOUT: 'soon' }), 'QUORUM_TIMEOUT'],
    ['REPLICATION_TIMEOUT zero', leaderEnv({ REPLICATION_TIMEOUT: '0s' }), 'REPLICATION_TIMEOUT'],
    ['DELAY_SEED negative', leaderEnv({ DELAY_SEED: '-1' }), 'DELAY_SEED'],
    ['DELAY_SEED fractional', leaderEnv({ DELAY_SEED: '1.5' }), 'DELAY_SEED'],
    ['DELAY_SEED above uint32', leaderEnv({ DELAY_SEED: '4294967296' }), 'DELAY_SEED'],
    ['DELAY_SEED text', leaderEnv({ DELAY_SEED: 'random' }), 'DELAY_SEED'],
    ['SCHEDULER unknown', leaderEnv({ SCHEDULER: 'fast' }), 'SCHEDULER'],
    ['SERVER unknown', leaderEnv({ SERVER: 'koa' }), 'SERVER'],
    ['SERVER unknown on a follower', { ROLE: 'follower', SERVER: 'Express' }, 'SERVER'],
  ];
  test.each(cases)('%s', (_name, env, option) => {
    let err: unknown;
    try {
      parseNodeEnv(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('QL_ERR_CONFIG');
    expect((err as ConfigError).option).toBe(option);
    expect((err as ConfigError).message.startsWith(`${option}: `)).toBe(true);
  });
});

describe('createLeader validates its options too', () => {
  test.each([
    [{ followers: [] }, 'followers'],
    [{ followers: ['http://a:1'], writeQuorum: 2 }, 'writeQuorum'],
    [{ followers: ['http://a:1'], writeQuorum: 0 }, 'writeQuorum'],
    [{ followers: ['http://a:1'], minDelayMs: 2, maxDelayMs: 1 }, 'MIN_DELAY'],
    [{ followers: ['http://a:1'], quorumTimeoutMs: 0 }, 'quorumTimeoutMs'],
    [{ followers: ['http://a:1'], delaySeed: -3 }, 'delaySeed'],
  ])('%j → ConfigError(%s)', (options, option) => {
    expect(() => createLeader(options)).toThrow(ConfigError);
    try {
      createLeader(options);
    } catch (e) {
      expect((e as ConfigError).option).toBe(option);
    }
  });
});
