import { spawn, type ChildProcess } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureNodeBundle } from '../lib/node-bundle.mjs';
import { NODE_ENV_NAMES } from '../nodes/cluster.ts';
import { TSX_IMPORT_ARGS } from '../lib/ts-run.ts';
import { alive, call, createStandIn, track } from './nodes-helpers.ts';

const CLI = fileURLToPath(new URL('../nodes/cluster-cli.ts', import.meta.url));
const tsx = TSX_IMPORT_ARGS;

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout match of `re`. */
  waitFor(re: RegExp): Promise<RegExpMatchArray>;
}

function run(entry: string, env: Record<string, string>, args: string[] = [], detached = false): Proc {
  const clean = { ...process.env };
  // Never let the parent's node settings leak into the child (the launcher's own list).
  for (const k of NODE_ENV_NAMES) delete clean[k];
  // The bundled node program runs as plain JavaScript, like every node; the CLIs run through tsx.
  const child = spawn(process.execPath, [...(entry.endsWith('.mjs') ? [] : tsx), entry, ...args], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
  let out = '';
  let err = '';
  const watchers: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  child.stdout!.on('data', (d) => {
    out += d;
    for (let i = watchers.length - 1; i >= 0; i--) {
      const m = out.match(watchers[i]!.re);
      if (m) watchers.splice(i, 1)[0]!.resolve(m);
    }
  });
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    waitFor(re) {
      const m = out.match(re);
      if (m) return Promise.resolve(m);
      return Promise.race([
        new Promise<RegExpMatchArray>((resolve) => watchers.push({ re, resolve })),
        exit.then(({ code }) => Promise.reject(new Error(`exited (${code}) before ${re}: ${out}\n${err}`))),
      ]);
    },
  };
}

async function occupyPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as AddressInfo).port, release: () => new Promise((r) => srv.close(() => r())) };
}

describe('the node program (nodes/main.ts, bundled)', () => {
  let MAIN: string;
  beforeAll(async () => {
    MAIN = await ensureNodeBundle();
  });

  test('bad configuration: exit code 2 and a message naming the variable', async () => {
    const p = run(MAIN, { ROLE: 'leader', FOLLOWERS: 'http://127.0.0.1:1', WRITE_QUORUM: '4' });
    expect((await p.exit).code).toBe(2);
    expect(p.stderr()).toMatch(/invalid configuration: WRITE_QUORUM: must be an integer in 1\.\.1/);
  });

  test('port taken: exit code 3 and a message naming the port', async () => {
    const busy = await occupyPort();
    try {
      const p = run(MAIN, { ROLE: 'follower', PORT: String(busy.port) });
      expect((await p.exit).code).toBe(3);
      expect(p.stderr()).toContain(`port ${busy.port} on 127.0.0.1 is already in use`);
    } finally {
      await busy.release();
    }
  });

  test('SIGTERM: stops accepting, finishes the in-flight write, exits 0', async () => {
    const standIn = await createStandIn();
    try {
      const p = run(MAIN, {
        ROLE: 'leader',
        PORT: '0',
        FOLLOWERS: standIn.url,
        WRITE_QUORUM: '1',
        MIN_DELAY: '0',
        MAX_DELAY: '0',
      });
      const [, url] = await p.waitFor(/listening on (http:\/\/\S+)/);
      const write = track(call(`${url}/write`, 'POST', { key: 'k', value: 1 }));
      await standIn.waitForRequests(1);
      p.child.kill('SIGTERM');
      // Still waiting for its ack; release it and the write completes before the process exits.
      expect(write.settled()).toBe(false);
      standIn.release();
      expect((await write.promise).body).toMatchObject({ status: 'success', version: 1, acks: 1 });
      expect(await p.exit).toEqual({ code: 0, signal: null });
    } finally {
      await standIn.close();
    }
  });
});

describe('npm run node (lib/run-node.mjs)', () => {
  const RUN_NODE = fileURLToPath(new URL('../lib/run-node.mjs', import.meta.url));
  const node = (args: string[], env: Record<string, string> = {}) => {
    const child = spawn(process.execPath, [RUN_NODE, ...args], {
      env: { ...process.env, ROLE: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    return new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
      child.on('exit', (code) => resolve({ code, out, err })),
    );
  };

  test('--help and -h: the variables on stdout, exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await node([flag]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/ROLE=leader\|follower/);
      expect(r.out).toContain('SERVER');
    }
  });

  test('an unknown flag: exit 2 naming it; no ROLE: exit 2 pointing at --help', async () => {
    const bad = await node(['--bogus']);
    expect([bad.code, bad.err.trim()]).toEqual([2, 'node: Unknown argument: bogus (see --help)']);
    const env = { ...process.env };
    delete env.ROLE;
    const child = spawn(process.execPath, [RUN_NODE], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/ROLE: is required: "leader" or "follower" \(`npm run node -- --help`/);
  });
});

describe('npm run cluster (nodes/cluster-cli.ts)', () => {
  let cli: Proc;
  afterAll(() => {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  });

  test('starts, prints the URLs, serves, and stops every node on Ctrl-C', async () => {
    // Own process group, so the SIGINT below reaches it the way a terminal's Ctrl-C does.
    cli = run(
      CLI,
      { WRITE_QUORUM: '2', MIN_DELAY: '200us' },
      ['--leader-port', '0', '--follower-count', '2', '--quiet'],
      true,
    );
    await cli.waitFor(/Ctrl-C to stop/);
    const out = cli.stdout();
    expect(out).toMatch(/W=2, delays 200us\.\.1ms/);
    const leaderUrl = out.match(/leader\s+(http:\/\/\S+)/)![1]!;
    const pids = [...out.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(3);
    for (let i = 1; i <= 2; i++) expect(out).toMatch(new RegExp(`follower${i}\\s+http://127\\.0\\.0\\.1:\\d+`));
    expect((await call(`${leaderUrl}/write`, 'POST', { key: 'a', value: 1 })).body).toMatchObject({
      acks: 2,
      quorum: 2,
    });
    process.kill(-cli.child.pid!, 'SIGINT');
    // The whole exit (code and signal) is compared, so a failure shows which signal ended it.
    expect(await cli.exit).toEqual({ code: 0, signal: null });
    expect(cli.stderr()).toContain('cluster: SIGINT; stopping all nodes');
    expect(cli.stderr()).not.toContain('unexpectedly');
    expect(pids.filter(alive)).toEqual([]);
  });

  test('a taken port: exit 1 with a clear message', async () => {
    const busy = await occupyPort();
    try {
      const p = run(CLI, {}, [
        '--leader-port',
        '0',
        '--follower-count',
        '2',
        '--follower-ports',
        `0,${busy.port}`,
        '--quiet',
      ]);
      expect((await p.exit).code).toBe(1);
      expect(p.stderr()).toContain(`cluster: follower2: port ${busy.port} on 127.0.0.1 is already in use`);
    } finally {
      await busy.release();
    }
  });

  test.each([
    [
      'a bad flag value names the flag',
      {},
      ['--quorum', '9'],
      /^cluster: --quorum: expected an integer in 1\.\.5, got "9" \(see --help\)$/,
    ],
    [
      'a bad environment value names the variable',
      { WRITE_QUORUM: '9' },
      [],
      /^cluster: WRITE_QUORUM: expected an integer in 1\.\.5/,
    ],
    ['an unknown flag', {}, ['--bogus'], /^cluster: Unknown argument: bogus/],
    [
      '--followers (a URL list in the experiment) names --follower-count',
      {},
      ['--followers', '2'],
      /^cluster: --followers: .*--follower-count/,
    ],
  ])('%s: exit 2 with one line', async (_name, env, args, message) => {
    const p = run(CLI, env, ['--leader-port', '0', ...args]);
    expect((await p.exit).code).toBe(2);
    expect(p.stderr().trim()).toMatch(message);
    expect(p.stderr().trim().split('\n')).toHaveLength(1);
  });

  test('-h and --help: usage on stdout, exit 0', async () => {
    for (const flag of ['-h', '--help']) {
      const p = run(CLI, {}, [flag]);
      expect((await p.exit).code).toBe(0);
      expect(p.stdout()).toMatch(/npm run cluster -- \[options\]/);
      expect(p.stdout()).toContain('--follower-count');
    }
  });
});
