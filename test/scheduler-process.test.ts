import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';

const SCHEDULER_URL = pathToFileURL(fileURLToPath(new URL('../nodes/scheduler.ts', import.meta.url))).href;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
// lib/ts-run.ts's TSX_IMPORT_ARGS relies on import.meta.resolve, which vitest lacks; from the
// repository root a bare `--import tsx` resolves the same loader.
const TSX_ARGS = ['--import', 'tsx'];

/** Run an ES module snippet in a child `node --import tsx`; resolves with its exit code and stdout. */
function runChild(
  code: string,
  timeoutMs = 20_000,
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TSX_ARGS, '--input-type=module', '-e', code], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    // The point of these tests is that the child exits by itself; a hang is a failure, not a wait.
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (exitCode, signal) => {
      clearTimeout(killer);
      resolve({ code: exitCode, signal, stdout, stderr });
    });
  });
}

describe('scheduler and process lifetime', () => {
  test('a process that scheduled delays exits once they fired (pending keeps it alive, idle does not)', async () => {
    const r = await runChild(`
      import { createDelayScheduler } from ${JSON.stringify(SCHEDULER_URL)};
      const s = createDelayScheduler();
      // Nothing else keeps the loop alive: the delays must (until they fire), the idle helper must not.
      s.schedule(500, (us) => console.log('fired-short', us >= 500));
      s.schedule(30000, (us) => console.log('fired-long', us >= 30000));
    `);
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('fired-short true\nfired-long true\n');
  });

  test('an idle scheduler never used, and a closed one with pending delays, do not keep the process alive', async () => {
    const r = await runChild(`
      import { createDelayScheduler } from ${JSON.stringify(SCHEDULER_URL)};
      const idle = createDelayScheduler();
      const closed = createDelayScheduler();
      closed.schedule(60_000_000, () => console.log('must not fire'));
      closed.close().then(() => console.log('closed', closed.pending));
    `);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('closed 0\n');
  });

  test('a throwing callback surfaces as an uncaught exception and does not stop the others', async () => {
    const r = await runChild(`
      import { createDelayScheduler } from ${JSON.stringify(SCHEDULER_URL)};
      process.on('uncaughtException', (err) => console.log('uncaught', err.message));
      const s = createDelayScheduler();
      s.schedule(200, () => { throw new Error('boom'); });
      s.schedule(200, () => console.log('second'));
      s.schedule(400, () => console.log('third'));
    `);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['second', 'third', 'uncaught boom']);
  });
});
