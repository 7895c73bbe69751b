/**
 * analysis/example.ipynb runs top to bottom on data/reference-run (jupyter nbconvert --execute) and is
 * committed with its outputs. Executing needs python3 with pandas, matplotlib, nbconvert and ipykernel
 * (Debian: python3-pandas python3-matplotlib jupyter-nbconvert python3-ipykernel; .ci/run installs them);
 * without them that test is skipped and its title says why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const NOTEBOOK = join(ROOT, 'analysis/example.ipynb');

interface Output {
  output_type: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
}
interface Cell {
  cell_type: string;
  execution_count?: number | null;
  outputs?: Output[];
}

/** The interpreter of the python3 kernel nbconvert will start, from its kernel.json in Jupyter's data dirs. */
function kernelPython(): string | null {
  const paths = spawnSync('jupyter', ['--paths', '--json'], { encoding: 'utf8' });
  if (paths.status !== 0) return null;
  for (const dir of (JSON.parse(paths.stdout) as { data?: string[] }).data ?? []) {
    const spec = join(dir, 'kernels/python3/kernel.json');
    if (existsSync(spec)) return (JSON.parse(readFileSync(spec, 'utf8')) as { argv?: string[] }).argv?.[0] ?? null;
  }
  return null;
}

/** Why the notebook cannot be executed here, or null when it can. */
function missingPython(): string | null {
  const jupyter = spawnSync('jupyter', ['nbconvert', '--version'], { encoding: 'utf8' });
  if (jupyter.status !== 0) return 'jupyter nbconvert is not installed (apt-get install jupyter-nbconvert)';
  const python = kernelPython();
  if (!python) return 'no python3 Jupyter kernel (apt-get install python3-ipykernel)';
  const mods = spawnSync(python, ['-c', 'import pandas, matplotlib'], { encoding: 'utf8' });
  if (mods.status !== 0)
    return `the python3 kernel (${python}) lacks pandas or matplotlib (apt-get install python3-pandas python3-matplotlib)`;
  return null;
}

function codeCells(nb: { cells: Cell[] }): Cell[] {
  return nb.cells.filter((c) => c.cell_type === 'code');
}

function images(cells: Cell[]): number {
  return cells.flatMap((c) => c.outputs ?? []).filter((o) => o.data?.['image/png'] !== undefined).length;
}

function errors(cells: Cell[]): string[] {
  return cells
    .flatMap((c) => c.outputs ?? [])
    .filter((o) => o.output_type === 'error')
    .map((o) => o.ename ?? 'error');
}

describe('analysis/example.ipynb', () => {
  test('is committed executed: every code cell ran in order, no errors, its plots included', async () => {
    const cells = codeCells(JSON.parse(await readFile(NOTEBOOK, 'utf8')));
    expect(cells.map((c) => c.execution_count)).toEqual(cells.map((_, i) => i + 1));
    expect(errors(cells)).toEqual([]);
    expect(images(cells)).toBe(3);
    const first = [cells[0]!.outputs![0]!.text].flat().join('');
    expect(first).toBe('run folder: data/reference-run\n');
  });

  const reason = missingPython();
  test.skipIf(reason !== null)(
    `runs top to bottom on data/reference-run with jupyter nbconvert --execute${reason ? ` (skipped: ${reason})` : ''}`,
    async () => {
      const out = await mkdtemp(join(tmpdir(), 'ql-notebook-'));
      try {
        const r = spawnSync('jupyter', ['nbconvert', '--to', 'notebook', '--execute', '--output-dir', out, NOTEBOOK], {
          encoding: 'utf8',
          env: { ...process.env, QL_RUN: '', PYDEVD_DISABLE_FILE_VALIDATION: '1' },
          timeout: 170_000,
        });
        expect(r.status, r.stderr.slice(-2000)).toBe(0);
        const cells = codeCells(JSON.parse(await readFile(join(out, 'example.ipynb'), 'utf8')));
        expect(errors(cells)).toEqual([]);
        expect(images(cells)).toBe(3);
        expect(cells.every((c) => (c.outputs ?? []).length > 0)).toBe(true);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    },
    180_000,
  );
});
