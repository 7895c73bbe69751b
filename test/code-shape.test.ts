/**
 * Code shape: no function in the project's parts is longer than 100 lines (about 60 is the habit),
 * so each reads on a screen or two. Counts arrow functions and methods like declarations.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { functionLengths, type FunctionLength } from '../lib/function-lengths.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHECKED_DIRS = ['nodes', 'harness', 'analysis', 'contracts'];
const MAX_LINES = 100;

function sourcesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = join(dir, e.name);
    if (e.isDirectory()) return sourcesUnder(rel);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

function offenders(files: readonly string[]): FunctionLength[] {
  return files
    .flatMap((f) => functionLengths(join(ROOT, f)).map((l) => ({ ...l, file: f })))
    .filter((l) => l.lines > MAX_LINES);
}

describe('code shape', () => {
  it('finds the sources it checks', () => {
    for (const dir of CHECKED_DIRS) expect(sourcesUnder(dir).length, dir).toBeGreaterThan(0);
  });

  it(`no function in ${CHECKED_DIRS.join(', ')} is longer than ${MAX_LINES} lines`, () => {
    const long = offenders(CHECKED_DIRS.flatMap(sourcesUnder))
      .sort((a, b) => b.lines - a.lines)
      .map((l) => `${l.file}:${l.line} ${l.name} (${l.lines} lines)`);
    expect(long, `split these into named units:\n${long.join('\n')}`).toEqual([]);
  });

  it('reports a function longer than the limit (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'code-shape-'));
    try {
      const body = Array.from({ length: MAX_LINES }, (_, i) => `  const x${i} = ${i};`).join('\n');
      const file = join(dir, 'long.ts');
      writeFileSync(file, `export function long(): void {\n${body}\n}\nexport const short = (): number => 1;\n`);
      const long = functionLengths(file).filter((l) => l.lines > MAX_LINES);
      expect(long.map((l) => [l.name, l.line, l.lines])).toEqual([['long', 1, MAX_LINES + 2]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
