/**
 * External mode against a cluster with only the seed's endpoints (test/foreign-cluster.ts): no
 * versions, no /config, /stats or /stats/reset, W fixed at start. Staleness by value, the
 * --cluster-cmd per W, bodies the harness cannot read, and replicas that differed before the run.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { type DataDump, normaliseDump } from '../harness/convergence.ts';
import { runExperiment, type ExperimentHooks } from '../harness/experiment.ts';
import { parseReadBody } from '../harness/http.ts';
import { checkNothingLost, checkPresence } from '../harness/nothing-lost.ts';
import { OptionError, type ExperimentInput } from '../harness/options.ts';
import { createValueVersions } from '../harness/value-versions.ts';
import { planWrite } from '../harness/workload.ts';
import { createFollower } from '../nodes/follower.ts';
import { createLeader } from '../nodes/leader.ts';
import { startForeignCluster, type ForeignCluster } from './foreign-cluster.ts';
import { call } from './nodes-helpers.ts';
import { freePorts } from './free-ports.ts';

const dirs: string[] = [];
const clusters: ForeignCluster[] = [];
afterAll(async () => {
  await Promise.all(clusters.map((c) => c.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ql-foreign-'));
  dirs.push(d);
  return d;
}

async function foreign(writeQuorum: number, extra: { garbledReadFollowers?: number[] } = {}): Promise<ForeignCluster> {
  const c = await startForeignCluster({ writeQuorum, ...extra });
  clusters.push(c);
  return c;
}

const SMALL: ExperimentInput = {
  writes: 150,
  warmup: 10,
  clients: 2,
  threads: 1,
  keys: 500,
  seed: 7,
  analyze: false,
  // An upper bound only (the check returns once the replicas agree): lagging followers of a loaded machine need it.
  convergenceTimeout: '30s',
  // Also an upper bound: the tests count every read-back as answered, which the default 200 ms budget
  // does not promise on a loaded machine (unanswered reads count unavailable, not read).
  readTimeout: '5s',
};

function collect(): { warnings: string[]; hooks: ExperimentHooks } {
  const warnings: string[] = [];
  return { warnings, hooks: { onWarning: (m) => warnings.push(m) } };
}

describe('reading seed-API bodies', () => {
  test('reads with and without a version, extra fields, and what cannot be read', () => {
    expect(parseReadBody('{"key":"k","value":"v","version":3}', 'k')).toMatchObject({ ok: true, version: 3 });
    expect(parseReadBody('{"key":"k","value":"v","status":"ok"}', 'k')).toEqual({
      ok: true,
      version: null,
      value: 'v',
    });
    expect(parseReadBody('{"k":"v"}', 'k')).toEqual({ ok: true, version: null, value: 'v' });
    expect(parseReadBody('{"value":null}', 'k')).toEqual({ ok: true, version: 0 });
    expect(parseReadBody('<html>', 'k')).toEqual({ ok: false, kind: 'http', status: 200, unparsed: '<html>' });
    expect(parseReadBody('{"status":"ok"}', 'k')).toMatchObject({ ok: false, unparsed: '{"status":"ok"}' });
  });

  test('values stand in for versions: the position of the write that wrote them', () => {
    const workload = { seed: 1, keys: 5, valueBytes: 16, readback: 1, visibility: 0 };
    const versionOf = createValueVersions({ workload, warmup: 3, writes: 10 });
    const w0 = planWrite(workload, 'warmup', 0);
    const m4 = planWrite(workload, 'measure', 4);
    expect(versionOf(w0.key, w0.value)).toBe(1);
    expect(versionOf(m4.key, m4.value)).toBe(3 + 4 + 1);
    expect(versionOf(m4.key, undefined)).toBe(0);
    expect(versionOf(m4.key, 'never written')).toBeNull();
  });

  test("/data: ours, the seed's flat map, and a wrapped one; a non-object is an error with a code", () => {
    const versionOf = (_k: string, v: unknown): number | null => (v === 'a' ? 1 : null);
    expect(normaliseDump({ k: { value: 'x', version: 4 } }, 'u')).toEqual({ k: { value: 'x', version: 4 } });
    expect(normaliseDump({ k: 'a', j: 'zz' }, 'u', versionOf)).toEqual({
      k: { value: 'a', version: 1 },
      j: { value: 'zz', version: -1 },
    });
    expect(normaliseDump({ status: 'ok', data: { k: 'a' } }, 'u', versionOf)).toEqual({
      k: { value: 'a', version: 1 },
    });
    expect(() => normaliseDump([1], 'http://n')).toThrow(expect.objectContaining({ code: 'QL_ERR_UNREADABLE_DATA' }));
  });
});

describe('nothing lost without versions', () => {
  test('presence: an older value of a key written at once by two clients is not lost; a missing key or a foreign value is', () => {
    const acked = [
      { key: 'a', version: 9, value: 'a9' },
      { key: 'b', version: 4, value: 'b4' },
      { key: 'c', version: 5, value: 'c5' },
    ];
    // Node 0: 'a' holds an older write of this step (concurrent with a9), all fine.
    // Node 1: 'b' missing, 'c' holds a value no write of this step wrote (-1).
    const dumps: DataDump[] = [
      { a: { value: 'a7', version: 7 }, b: { value: 'b4', version: 4 }, c: { value: 'c5', version: 5 } },
      { a: { value: 'a9', version: 9 }, c: { value: 'zz', version: -1 } },
    ];
    const r = checkPresence(acked, dumps, ['leader', 'follower1'], 0);
    expect(r.check).toBe('presence');
    expect(r.nodes.map((n) => n.lost + n.corrupted)).toEqual([0, 2]);
    expect(checkNothingLost(acked, dumps, ['leader', 'follower1'], 0).nodes[0]!.lost).toBe(1);
  });
});

describe('a foreign cluster in external mode', () => {
  test('one W, named by the user: measured by value, missing figures said, converged, nothing lost', async () => {
    const c = await foreign(2);
    const { warnings, hooks } = collect();
    const out = join(await tempDir(), 'run');
    const r = await runExperiment(
      { ...SMALL, analyze: true, quorums: '2', leader: c.leaderUrl, followers: c.followerUrls, out },
      hooks,
    );
    // No delay bounds reported: the model cannot run, and the run says so instead of failing in the reader.
    expect(r.analysis).toMatchObject({
      ran: false,
      error: expect.stringMatching(/^analysis skipped: the cluster does not report its delay bounds/),
    });
    expect(r.converged).toBe(true);
    expect(r.nothingLost).toBe(true);
    const q = r.results[0]!;
    expect(q.ok).toBe(150);
    expect(q.lostWrites.checkedKeys).toBeGreaterThan(0);
    // Every read-back was interpreted: stale or fresh, none an error.
    expect(q.replicas.every((s) => s.errors === 0 && s.reads === 150)).toBe(true);
    expect(q.replicas[0]!.stale).toBe(0);
    expect(q.staleCounts.reduce((a, b) => a + b, 0)).toBe(150);
    expect(warnings.join('\n')).toMatch(/no delay fidelity .*no GET \/stats/);
    const meta = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8'));
    const step = meta.cluster.perQuorum['2'];
    // Settings in effect, not option defaults the cluster never saw: it reports none.
    expect([meta.cluster.minDelayMs, meta.cluster.maxDelayMs, meta.cluster.quorumTimeoutMs]).toEqual([
      null,
      null,
      null,
    ]);
    expect(step.capabilities).toEqual({ config: false, stats: false });
    expect(step.reportedQuorum).toBe(2);
    expect(step.missing.length).toBeGreaterThan(0);
    expect(step.uninterpretableReads).toEqual({ count: 0, example: null });
    expect(q.lostWrites.check).toBe('presence');
  });

  test('W it cannot switch: several --quorums, or one that is not its W, are refused', async () => {
    const c = await foreign(2);
    const base = { ...SMALL, leader: c.leaderUrl, followers: c.followerUrls };
    const err = await runExperiment({ ...base, quorums: '1,2', out: join(await tempDir(), 'a') }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OptionError);
    expect((err as Error).message).toMatch(/^--quorums: .*no PUT \/config/);
    await expect(runExperiment({ ...base, quorums: '3', out: join(await tempDir(), 'b') })).rejects.toMatchObject({
      code: 'QL_ERR_EXTERNAL_CLUSTER',
      message: expect.stringMatching(/reports W=2 for the W=3 step/),
    });
  });

  test('--min-delay with --leader is refused in one line when the cluster cannot apply it', async () => {
    const c = await foreign(1);
    const err = await runExperiment({
      ...SMALL,
      quorums: '1',
      minDelay: '0.5ms',
      leader: c.leaderUrl,
      followers: c.followerUrls,
      out: join(await tempDir(), 'r'),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OptionError);
    expect((err as Error).message).toMatch(/^--min-delay: 0.5 ms cannot be applied: .* does not report this setting/);
    expect((err as Error).message).not.toContain('\n');
  });

  test('a read body nobody can interpret is a read error with an example, not a crash', async () => {
    const c = await foreign(1, { garbledReadFollowers: [2] });
    const { warnings, hooks } = collect();
    const r = await runExperiment(
      { ...SMALL, quorums: '1', leader: c.leaderUrl, followers: c.followerUrls, out: join(await tempDir(), 'g') },
      hooks,
    );
    const q = r.results[0]!;
    expect(q.replicas[3]!.errors).toBe(150);
    expect(q.incompleteReadbacks).toBe(150);
    expect(warnings.join('\n')).toMatch(
      /W=1: \d+ read answers could not be interpreted .*e\.g\. GET \/read\?key=key-\d+ answered 200 with .*contents/,
    );
  });

  test('a key left on a follower before the run is named, and said to predate it', async () => {
    const c = await foreign(1);
    expect((await call(`${c.followerUrls[0]}/replicate`, 'POST', { key: 'left-over', value: 'x' })).status).toBe(200);
    const { warnings, hooks } = collect();
    const r = await runExperiment(
      {
        ...SMALL,
        convergenceTimeout: '3s',
        quorums: '1',
        leader: c.leaderUrl,
        followers: c.followerUrls,
        out: join(await tempDir(), 'p'),
      },
      hooks,
    );
    expect(warnings.join('\n')).toMatch(
      /before the load, replicas already differ from the leader: follower1 \(left-over\); this predates the run/,
    );
    const conv = r.results[0]!.convergence;
    expect(r.converged).toBe(false);
    expect(conv.differingKeys![0]).toEqual(['left-over']);
    expect(conv.preRunDifferingKeys![0]).toEqual(['left-over']);
  });
});

describe('our own nodes in external mode', () => {
  test('stores are reset before each step (token-guarded); a left-over key is named and cleared', async () => {
    const token = 'reset-token';
    const auth = { authorization: `Bearer ${token}` };
    const followers = [0, 1, 2].map(() => createFollower({ replicationToken: token }));
    const urls = (await Promise.all(followers.map((f) => f.listen(0)))).map((l) => l.url);
    const leader = createLeader({ followers: urls, writeQuorum: 1, replicationToken: token });
    const { url } = await leader.listen(0);
    clusters.push({
      leaderUrl: url,
      followerUrls: urls,
      close: async () => {
        await leader.close();
        await Promise.all(followers.map((f) => f.close()));
      },
    });
    expect((await call(`${urls[0]}/admin/reset`, 'POST')).status).toBe(401);
    expect((await call(`${url}/admin/reset`, 'POST')).status).toBe(401);
    // Delay settings cannot be changed through any endpoint: one that differs from the leader's is refused.
    const refused = await runExperiment({
      ...SMALL,
      quorums: '1',
      minDelay: '7ms',
      maxDelay: '9ms',
      leader: url,
      followers: urls,
      replicationToken: token,
      out: join(await tempDir(), 'x'),
    }).catch((e: unknown) => e);
    expect((refused as Error).message).toMatch(
      /^--min-delay: 7 ms cannot be applied: .* runs with [\d.]+ ms and has no endpoint to change it/,
    );
    expect(
      (await call(`${urls[0]}/replicate`, 'POST', { key: 'left-over', value: 'x', version: 1 }, { headers: auth }))
        .status,
    ).toBe(200);
    const { warnings, hooks } = collect();
    const out = join(await tempDir(), 'own');
    const r = await runExperiment(
      { ...SMALL, quorums: '1,3', leader: url, followers: urls, replicationToken: token, out },
      hooks,
    );
    expect(warnings.join('\n')).toMatch(
      /W=1: before the load, replicas already differ from the leader: follower1 \(left-over\); cleared by the store reset/,
    );
    expect(r.converged).toBe(true);
    expect(r.nothingLost).toBe(true);
    expect(followers[0]!.store.get('left-over')).toBeUndefined();
    const meta = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8'));
    expect([meta.cluster.perQuorum['1'].storeReset, meta.cluster.perQuorum['3'].storeReset]).toEqual([true, true]);
    const config = (await call(`${url}/config`)).body;
    expect([meta.cluster.minDelayMs, meta.cluster.maxDelayMs, meta.cluster.quorumTimeoutMs]).toEqual([
      config.minDelayMs,
      config.maxDelayMs,
      config.quorumTimeoutMs,
    ]);
    expect(meta.cluster.perQuorum['3'].capabilities).toEqual({ config: true, stats: true });
    // Each step starts empty: W=3's leader holds only keys its own 160 writes touched.
    expect(r.results[1]!.convergence.leaderKeys).toBeLessThanOrEqual(160);
  });
});

describe('--cluster-cmd', () => {
  test('the foreign cluster measured end to end at two W, started and stopped per step', async () => {
    const [leaderPort, ...followerPorts] = await freePorts(6);
    const dir = await tempDir();
    const script = fileURLToPath(new URL('./foreign-cluster.ts', import.meta.url));
    const pidFile = join(dir, 'cluster.pid');
    const tool = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(script)}`;
    const out = join(dir, 'run');
    const r = await runExperiment({
      ...SMALL,
      quorums: '1,5',
      leader: `http://127.0.0.1:${leaderPort}`,
      followers: followerPorts.map((p) => `http://127.0.0.1:${p}`),
      clusterCmd: `${tool} start --quorum {W} --leader-port {LEADER_PORT} --follower-ports {FOLLOWER_PORTS} --pid-file ${pidFile}`,
      clusterStopCmd: `${tool} stop --pid-file ${pidFile}`,
      clusterReadyTimeout: '20s',
      out,
    });
    expect(r.results.map((q) => q.quorum)).toEqual([1, 5]);
    expect(r.converged).toBe(true);
    expect(r.nothingLost).toBe(true);
    // W=5 waits for every follower: a read-back right after the ack finds none stale.
    expect(r.results[1]!.followerStale).toBe(0);
    const meta = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8'));
    expect(meta.cluster.perQuorum['1'].reportedQuorum).toBe(1);
    expect(meta.cluster.perQuorum['5'].reportedQuorum).toBe(5);
    expect(meta.cluster.perQuorum['5'].clusterCmd).toContain('--quorum 5');
    // The stop command ran after the last step: nothing listens any more.
    await expect(call(`http://127.0.0.1:${leaderPort}/health`)).rejects.toThrow();
  }, 90_000);

  test('a start command that fails names itself and its output', async () => {
    const [leaderPort, ...followerPorts] = await freePorts(6);
    await expect(
      runExperiment({
        ...SMALL,
        quorums: '1',
        leader: `http://127.0.0.1:${leaderPort}`,
        followers: followerPorts.map((p) => `http://127.0.0.1:${p}`),
        clusterCmd: 'echo cannot start W={W} >&2; exit 3',
        out: join(await tempDir(), 'f'),
      }),
    ).rejects.toMatchObject({
      code: 'QL_ERR_CLUSTER_CMD',
      message: expect.stringMatching(/exited 3:\n {2}cannot start W=1/),
    });
  });
});
