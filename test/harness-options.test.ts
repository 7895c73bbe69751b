import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { OPTION_SPECS, OptionError, resolveOptions, type ExperimentInput } from '../harness/options.ts';
import { runExperiment } from '../harness/experiment.ts';
import { localClusterOptions } from '../harness/cluster-target.ts';

const CLI = fileURLToPath(new URL('../harness/cli.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
// lib/ts-run.ts's TSX_IMPORT_ARGS uses import.meta.resolve, which vitest does not provide; `--import tsx`
// resolves from the repository root just as well.
const TSX_ARGS = ['--import', 'tsx'];

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...TSX_ARGS, CLI, ...args], { timeout: 20_000, cwd: ROOT }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

describe('resolveOptions', () => {
  test('defaults', () => {
    const o = resolveOptions({}, new Date('2024-01-02T03:04:05.678Z'));
    expect(o.quorums).toEqual([1, 2, 3, 4, 5]);
    expect(o.clients).toBe(10);
    expect(o.threads).toBe(Math.min(10, availableParallelism()));
    expect(o.writes).toBe(10_000);
    expect(o.warmup).toBe(500);
    expect(o.keys).toBe(100);
    expect(o.valueBytes).toBe(16);
    expect(o.rate).toBeNull();
    expect(o.readback).toBe(1);
    expect(o.visibility).toBe(0);
    expect(o.minDelayMs).toBeCloseTo(0.1, 12);
    expect(o.maxDelayMs).toBe(1);
    expect(o.quorumTimeoutMs).toBe(2000);
    expect(o.out).toBe('data/runs/2024-01-02T03-04-05Z');
    expect(o.leader).toBeNull();
    expect(o.analyze).toBe(true);
    expect(o.progress).toBe('auto');
    expect(o.server).toBe('http');
    expect(Number.isInteger(o.seed)).toBe(true);
  });

  test('--server express reaches the local cluster (and so meta.json)', () => {
    expect(localClusterOptions(resolveOptions({ server: 'express' }), 3)).toMatchObject({
      writeQuorum: 3,
      server: 'express',
    });
  });

  test('parses the command-line forms', () => {
    const o = resolveOptions({
      quorums: '2, 1',
      clients: '4',
      threads: '3',
      rate: '2500',
      minDelay: '100us',
      maxDelay: '0.002s',
      visibility: '',
      visibilityMax: '5ms',
      seed: '7',
      leader: 'http://127.0.0.1:9000/',
      followers: 'http://127.0.0.1:9001,http://127.0.0.1:9002',
      progress: '',
      analyze: false,
    });
    expect(o.quorums).toEqual([2, 1]);
    expect(o.clients).toBe(4);
    expect(o.threads).toBe(3);
    expect(o.rate).toBe(2500);
    expect(o.minDelayMs).toBeCloseTo(0.1, 12);
    expect(o.maxDelayMs).toBeCloseTo(2, 12);
    expect(o.visibility).toBe(0.1);
    expect(o.visibilityMaxUs).toBeCloseTo(5000, 6);
    expect(o.seed).toBe(7);
    expect(o.leader).toBe('http://127.0.0.1:9000');
    expect(o.followers).toEqual(['http://127.0.0.1:9001', 'http://127.0.0.1:9002']);
    expect(o.progress).toBe(true);
    expect(o.analyze).toBe(false);
  });

  test.each<[string, ExperimentInput, string]>([
    ['quorum 0', { quorums: '0' }, 'QL_ERR_OPT_QUORUMS'],
    ['quorum 6', { quorums: '1,6' }, 'QL_ERR_OPT_QUORUMS'],
    ['empty and junk entries', { quorums: '1,,x' }, 'QL_ERR_OPT_QUORUMS'],
    ['a repeated quorum', { quorums: '2,2' }, 'QL_ERR_OPT_QUORUMS'],
    [
      'quorum above the external follower count',
      { quorums: '3', leader: 'http://127.0.0.1:1', followers: 'http://127.0.0.1:2,http://127.0.0.1:3' },
      'QL_ERR_OPT_QUORUMS',
    ],
    ['negative writes', { writes: '-5' }, 'QL_ERR_OPT_WRITES'],
    ['zero writes', { writes: 0 }, 'QL_ERR_OPT_WRITES'],
    ['fractional writes', { writes: '1.5' }, 'QL_ERR_OPT_WRITES'],
    ['a rate with no writes', { rate: 100, writes: 0 }, 'QL_ERR_OPT_WRITES'],
    ['zero rate', { rate: '0' }, 'QL_ERR_OPT_RATE'],
    ['readback above 1', { readback: '1.5' }, 'QL_ERR_OPT_READBACK'],
    ['readback below 0', { readback: '-0.1' }, 'QL_ERR_OPT_READBACK'],
    ['visibility above 1', { visibility: 2 }, 'QL_ERR_OPT_VISIBILITY'],
    ['min delay above max delay', { minDelay: '2ms', maxDelay: '1ms' }, 'QL_ERR_OPT_MIN_DELAY'],
    ['unparsable duration', { maxDelay: '1h' }, 'QL_ERR_OPT_MAX_DELAY'],
    ['zero clients', { clients: 0 }, 'QL_ERR_OPT_CLIENTS'],
    ['more threads than clients', { clients: 2, threads: 3 }, 'QL_ERR_OPT_THREADS'],
    ['a leader URL that is no URL', { leader: 'localhost8000', followers: 'http://127.0.0.1:2' }, 'QL_ERR_OPT_LEADER'],
    [
      'a leader URL with a path',
      { leader: 'http://127.0.0.1:8000/write', followers: 'http://127.0.0.1:2' },
      'QL_ERR_OPT_LEADER',
    ],
    ['followers without leader', { followers: 'http://127.0.0.1:2' }, 'QL_ERR_OPT_FOLLOWERS'],
    ['leader without followers', { leader: 'http://127.0.0.1:2' }, 'QL_ERR_OPT_LEADER'],
    ['a seed out of range', { seed: 2 ** 32 }, 'QL_ERR_OPT_SEED'],
    ['a privileged base port', { basePort: 80 }, 'QL_ERR_OPT_BASE_PORT'],
    ['an unknown option', { bogus: 1 } as unknown as ExperimentInput, 'QL_ERR_OPT_BOGUS'],
    ['an unknown server', { server: 'koa' }, 'QL_ERR_OPT_SERVER'],
    [
      '--server with an external cluster',
      { server: 'express', quorums: '1', leader: 'http://127.0.0.1:2', followers: 'http://127.0.0.1:3' },
      'QL_ERR_OPT_SERVER',
    ],
  ])('rejects %s', (_name, input, code) => {
    let caught: unknown;
    try {
      resolveOptions(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OptionError);
    expect((caught as OptionError).code).toBe(code);
    expect((caught as OptionError).message).not.toContain('\n');
  });
});

describe('machine checks before anything starts', () => {
  test('a taken port is rejected as an option error and no cluster starts', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as AddressInfo).port;
    let starts = 0;
    try {
      // The taken port is the leader's or one of the followers' (base..base+5).
      const base = Math.max(1024, taken - 3);
      await expect(
        runExperiment(
          { basePort: base, quorums: '1', writes: 1, analyze: false, out: '/tmp/ql-never' },
          {
            startCluster: async () => {
              starts++;
              throw new Error('must not start');
            },
          },
        ),
      ).rejects.toMatchObject({ code: 'QL_ERR_OPT_BASE_PORT' });
      expect(starts).toBe(0);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  test('an unreachable external cluster is rejected as an option error', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    await new Promise((r) => blocker.close(r));
    await expect(
      runExperiment({
        leader: `http://127.0.0.1:${port}`,
        followers: `http://127.0.0.1:${port + 1}`,
        quorums: '1',
        analyze: false,
      }),
    ).rejects.toMatchObject({ code: 'QL_ERR_OPT_LEADER' });
  });
});

describe('the CLI', () => {
  test('bad options exit with code 2 and a one-line message', async () => {
    const r = await runCli(['--quorums', '1,,x']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--quorums');
    const r2 = await runCli(['--quorums', '6']);
    expect(r2.code).toBe(2);
  });

  test('docs/harness.md documents every option with its unit and default', async () => {
    const doc = await readFile(join(ROOT, 'docs/harness.md'), 'utf8');
    for (const spec of OPTION_SPECS) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`--${spec.flag}\` |`));
      expect(row, spec.flag).toBeDefined();
      expect(row).toContain(`| ${spec.defaultText}`);
    }
  });

  test('--help shows the unit and default of every option', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    const text = r.stdout.replace(/\s+/g, ' ');
    for (const spec of OPTION_SPECS) {
      expect(text).toContain(`--${spec.flag}`);
      expect(text).toContain(`[unit: ${spec.unit}]`);
      expect(text).toContain(`[default: ${spec.defaultText}]`);
    }
  });
});
