import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { bundleCacheDir, ensureNodeBundle } from '../lib/node-bundle.mjs';
import { call } from './nodes-helpers.ts';

const run = promisify(execFile);
const WORKER_LIB = fileURLToPath(new URL('../lib/worker.ts', import.meta.url));

/** A throw-away checkout whose node program starts a .ts worker and a .mjs worker. */
function fixtureRoot(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'ql-bundle-'));
  mkdirSync(path.join(root, 'nodes', 'threads'), { recursive: true });
  writeFileSync(
    path.join(root, 'nodes', 'main.ts'),
    `import { createTsWorker } from ${JSON.stringify(WORKER_LIB)};
const answers: string[] = [];
for (const start of [() => createTsWorker(new URL('./threads/ts-thread.ts', import.meta.url)), () => createTsWorker(new URL("./threads/js-thread.mjs", import.meta.url))]) {
  const w = start();
  answers.push(await new Promise<string>((resolve) => w.once('message', resolve)));
  await w.terminate();
}
process.stdout.write(answers.join(',') + '\\n');
`,
  );
  writeFileSync(
    path.join(root, 'nodes', 'threads', 'ts-thread.ts'),
    `import { parentPort } from 'node:worker_threads';\nconst from: string = 'ts';\nparentPort!.postMessage(from);\n`,
  );
  writeFileSync(
    path.join(root, 'nodes', 'threads', 'js-thread.mjs'),
    `import { parentPort } from 'node:worker_threads';\nparentPort.postMessage('mjs');\n`,
  );
  return root;
}

describe('node bundle', () => {
  const roots: string[] = [];
  afterAll(() => {
    if (!process.env.KEEP) for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  test.each(['http', 'express'])(
    'the project bundle serves a follower (SERVER=%s) with plain node (no tsx) and is reused while its sources are unchanged',
    async (server) => {
      const main = await ensureNodeBundle();
      expect(main.startsWith(bundleCacheDir())).toBe(true);
      expect(readFileSync(main, 'utf8')).not.toMatch(/\btsx\b/);
      expect(await ensureNodeBundle()).toBe(main);
      const env: NodeJS.ProcessEnv = { ...process.env, ROLE: 'follower', PORT: '0', HOST: '127.0.0.1', SERVER: server };
      delete env.NODE_OPTIONS;
      const child = spawn(process.execPath, [main], { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      try {
        const msg = await new Promise<{ cmd: string; data: { port: number; server: string } }>((resolve, reject) => {
          child.on('message', (m) => resolve(m as { cmd: string; data: { port: number; server: string } }));
          child.on('exit', (code) => reject(new Error(`follower exited with ${code}`)));
        });
        expect(msg).toMatchObject({ cmd: 'listening', data: { server } });
        const health = await call(`http://127.0.0.1:${msg.data.port}/health`);
        expect(health.body).toMatchObject({ status: 'ok', role: 'follower' });
        // Express configured lean: no x-powered-by, no etag.
        expect(health.headers['x-powered-by']).toBeUndefined();
        expect(health.headers.etag).toBeUndefined();
        const missing = await call(`http://127.0.0.1:${msg.data.port}/nope`);
        expect([missing.status, missing.body.error]).toEqual([404, 'unknown_route']);
      } finally {
        child.kill('SIGTERM');
      }
    },
  );

  test('worker entries (.ts and .mjs) are bundled beside main and start from the bundle', async () => {
    const root = fixtureRoot();
    roots.push(root);
    const main = await ensureNodeBundle({ root });
    const { stdout } = await run(process.execPath, [main]).catch((e) => {
      throw new Error(`${e.message}: ${e.stderr}`);
    });
    expect(stdout.trim()).toBe('ts,mjs');
  });

  test('a changed source is rebuilt into a new bundle', async () => {
    const root = fixtureRoot();
    roots.push(root);
    const first = await ensureNodeBundle({ root });
    const thread = path.join(root, 'nodes', 'threads', 'ts-thread.ts');
    writeFileSync(thread, readFileSync(thread, 'utf8').replace("'ts'", "'ts2'"));
    const later = new Date(Date.now() + 5000);
    utimesSync(thread, later, later);
    const second = await ensureNodeBundle({ root });
    expect(second).not.toBe(first);
    const { stdout } = await run(process.execPath, [second]);
    expect(stdout.trim()).toBe('ts2,mjs');
  });
});
