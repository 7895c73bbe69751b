import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { resultsDir } from '../bench/run.ts';

const RUNNER = fileURLToPath(new URL('../bench/run.ts', import.meta.url));
const RESULTS = fileURLToPath(new URL('../bench/results/', import.meta.url));

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', RUNNER, ...args], { timeout: 20_000 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

describe('npm run bench', () => {
  test('--help prints the usage and the names, no stack, exit 0', async () => {
    const r = await bench(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('npm run bench -- [name ...]');
    expect(r.stdout).toContain('delay-fidelity');
    expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /);
  });

  test('an unknown flag or benchmark: one line naming it, exit 2', async () => {
    const flag = await bench(['--bogus']);
    expect([flag.code, flag.stderr.trim()]).toEqual([2, 'bench: Unknown argument: bogus (see --help)']);
    const name = await bench(['no-such-bench']);
    expect(name.code).toBe(2);
    expect(name.stderr.trim()).toMatch(/^bench: unknown benchmark no-such-bench; known: .*delay-fidelity/);
  });

  test('a --quick run never writes over bench/results (a temporary folder unless --out)', () => {
    const quick = resultsDir(undefined, true);
    try {
      expect(quick.startsWith(tmpdir())).toBe(true);
      expect(resolve(quick)).not.toBe(resolve(RESULTS));
    } finally {
      rmSync(quick, { recursive: true, force: true });
    }
    expect(resultsDir('some/dir', true)).toBe(resolve('some/dir'));
    expect(resolve(resultsDir(undefined, false))).toBe(resolve(RESULTS));
  });
});
