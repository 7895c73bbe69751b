import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { analyzeRun } from '../analysis/analyze.ts';
import { parseCsv } from '../analysis/read-run.ts';
import type {
  ClientReadTrace,
  ClientWriteTrace,
  FollowerApplyTrace,
  LeaderWriteTrace,
  TraceDump,
} from '../contracts/trace.ts';
import { COMPONENTS, decompose, writeComponents } from '../analysis/decomposition.ts';
import { parseTraceCsv, traceCsv } from '../analysis/trace-csv.ts';
import { joinTraces, type JoinedWrite } from '../analysis/trace-join.ts';
import { STALL_SLACK_US, applyAt, drawnDelays, traceModel, writeOverheads } from '../analysis/trace-model.ts';
import { traceReadOutcome, traceStaleness } from '../analysis/trace-staleness.ts';

const N = 5;

/**
 * A hand-built write on one clock starting at t0: follower i (1-based) gets delay 100·i µs, its
 * message arrives 20 µs after the fire, is applied 5 µs later, and acked 30 µs after that.
 */
function write(key: string, version: number, t0: number, quorum: number, readAfterUs: number) {
  const versionUs = t0 + 50;
  const legs = Array.from({ length: N }, (_, k) => {
    const i = k + 1;
    const scheduledUs = versionUs + 2;
    const firedUs = scheduledUs + 100 * i + 3;
    const sentUs = firedUs + 1;
    return {
      targetDelayUs: 100 * i,
      scheduledUs,
      firedUs,
      sentUs,
      ackUs: sentUs + 20 + 5 + 30,
      outcome: 'acked' as const,
    };
  });
  const applies: FollowerApplyTrace[] = legs.map((l) => ({
    key,
    version,
    receivedUs: l.sentUs! + 20,
    appliedUs: l.sentUs! + 25,
    applied: true,
  }));
  const quorumUs = [...legs].sort((a, b) => a.ackUs - b.ackUs)[quorum - 1]!.ackUs + 1;
  const leader: LeaderWriteTrace = {
    key,
    version,
    receivedUs: t0 + 40,
    versionUs,
    quorumUs,
    responseUs: quorumUs + 4,
    quorum,
    legs,
  };
  const receivedUs = quorumUs + 4 + 30;
  const reads: ClientReadTrace[] = ['leader', ...legs.map((_, k) => `follower${k + 1}`)].map((replica, k) => {
    const servedUs = receivedUs + readAfterUs;
    const visible = k === 0 ? versionUs : applies[k - 1]!.appliedUs;
    const outcome = visible > servedUs ? ('stale' as const) : ('fresh' as const);
    return {
      replica,
      sentUs: receivedUs + 1,
      servedUs,
      receivedUs: servedUs + 10,
      version: outcome === 'fresh' ? version : version - 1,
      outcome,
    };
  });
  const client: ClientWriteTrace = { client: 0, key, version, intendedUs: t0, sentUs: t0 + 10, receivedUs, reads };
  return { client, leader, applies };
}

const dump = (role: 'leader' | 'follower', body: Partial<TraceDump>): TraceDump => ({
  role,
  nowUs: 0,
  capacity: 100,
  dropped: 0,
  ...body,
});

function cluster(ws: ReturnType<typeof write>[], quorum: number) {
  return joinTraces({
    quorum,
    followers: N,
    clientTraces: ws.map((w) => w.client),
    leader: dump('leader', { writes: ws.map((w) => w.leader) }),
    followerDumps: Array.from({ length: N }, (_, i) => [
      dump('follower', { bootId: `b${i + 1}`, applies: ws.map((w) => w.applies[i]!) }),
    ]),
  });
}

describe('joining traces across nodes', () => {
  test('client, leader and follower records of one write meet by (key, version) on one clock', () => {
    const w = write('k', 7, 1_000_000, 2, 0);
    const { writes, clientOnly, leaderOnly } = cluster([w], 2);
    expect([clientOnly, leaderOnly]).toEqual([0, 0]);
    expect(writes).toHaveLength(1);
    const j = writes[0]!;
    expect(j.versionUs).toBe(1_000_050);
    expect(j.legs.map((l) => l.appliedUs! - l.sentUs!)).toEqual([25, 25, 25, 25, 25]);
    expect(j.legs.map((l) => l.bootId)).toEqual(['b1', 'b2', 'b3', 'b4', 'b5']);
    // Every event of a leg is in order on the shared clock.
    for (const l of j.legs)
      expect([j.versionUs!, l.scheduledUs!, l.firedUs!, l.sentUs!, l.receivedUs!, l.appliedUs!, l.ackUs!]).toEqual(
        [...[j.versionUs!, l.scheduledUs!, l.firedUs!, l.sentUs!, l.receivedUs!, l.appliedUs!, l.ackUs!]].sort(
          (a, b) => a - b,
        ),
      );
  });

  test('missing events stay null: no follower record, no leader record, a failed client write', () => {
    const a = write('a', 1, 0, 1, 0);
    const b = write('b', 2, 5_000, 1, 0);
    const failed: ClientWriteTrace = { ...b.client, key: 'c', version: null };
    const res = joinTraces({
      quorum: 1,
      followers: N,
      clientTraces: [a.client, b.client, failed],
      leader: dump('leader', { writes: [a.leader], dropped: 3 }),
      followerDumps: [[dump('follower', { bootId: 'x', applies: [b.applies[0]!] })]],
    });
    expect(res.clientFailed).toBe(1);
    expect(res.clientOnly).toBe(1);
    expect(res.dropped).toBe(3);
    const ja = res.writes.find((w) => w.key === 'a')!;
    expect(ja.legs[0]!.appliedUs).toBeNull();
    expect(ja.legs[0]!.firedUs).not.toBeNull();
    expect(writeComponents(ja)).toBeNull();
    const jb = res.writes.find((w) => w.key === 'b')!;
    expect(jb.versionUs).toBeNull();
    expect(jb.legs[0]!.appliedUs).toBe(b.applies[0]!.appliedUs);
    expect(jb.legs[1]!.appliedUs).toBeNull();
  });

  test('a restarted follower: records of both boots join with their boot id; writes of a lost boot stay unknown', () => {
    const a = write('a', 1, 0, 1, 0);
    const b = write('b', 2, 5_000, 1, 0);
    const followerDumps = Array.from({ length: N }, (_, i) => [
      dump('follower', { bootId: 'old', applies: [a.applies[i]!] }),
      dump('follower', { bootId: 'new', applies: [b.applies[i]!] }),
    ]);
    // follower2 lost its first boot's ring: only the new boot answered.
    followerDumps[1] = [dump('follower', { bootId: 'new', applies: [b.applies[1]!] })];
    const res = joinTraces({
      quorum: 1,
      followers: N,
      clientTraces: [a.client, b.client],
      leader: dump('leader', { writes: [a.leader, b.leader] }),
      followerDumps,
    });
    const [ja, jb] = [res.writes.find((w) => w.key === 'a')!, res.writes.find((w) => w.key === 'b')!];
    expect(ja.legs[0]!.bootId).toBe('old');
    expect(jb.legs[0]!.bootId).toBe('new');
    expect(ja.legs[1]!.appliedUs).toBeNull();
    expect(traceReadOutcome(ja, ja.reads.find((r) => r.replica === 'follower2')!)).toBe('unknown');
  });

  test('a follower that already held a newer version counts as holding the write from that apply', () => {
    const a = write('k', 3, 0, 1, 0);
    const newer: FollowerApplyTrace = { key: 'k', version: 4, receivedUs: 10, appliedUs: 12, applied: true };
    const res = joinTraces({
      quorum: 1,
      followers: N,
      clientTraces: [a.client],
      leader: null,
      followerDumps: [[dump('follower', { applies: [newer, { ...a.applies[0]!, applied: false }] })]],
    });
    expect(res.writes[0]!.legs[0]!.visibleUs).toBe(12);
  });

  test('visible since = the earliest apply of that version or any newer one, whatever the order of the records', () => {
    const ws = [write('k', 1, 0, 1, 0), write('k', 2, 1_000, 1, 0), write('k', 3, 2_000, 1, 0)];
    const at = (version: number, appliedUs: number): FollowerApplyTrace => ({
      key: 'k',
      version,
      receivedUs: appliedUs - 1,
      appliedUs,
      applied: true,
    });
    // Out of order: version 3 landed before version 2 (which then found it newer), version 1 last of all.
    const applies = [at(3, 500), { ...at(2, 700), applied: false }, at(1, 900), at(4, 400)];
    const res = joinTraces({
      quorum: 1,
      followers: 1,
      clientTraces: ws.map((w) => w.client),
      leader: null,
      followerDumps: [[dump('follower', { applies })]],
    });
    const visible = (v: number) => res.writes.find((w) => w.version === v)!.legs[0]!.visibleUs;
    expect([visible(1), visible(2), visible(3)]).toEqual([400, 400, 400]);
    const only = joinTraces({
      quorum: 1,
      followers: 1,
      clientTraces: ws.map((w) => w.client),
      leader: null,
      followerDumps: [[dump('follower', { applies: [at(2, 700), at(1, 900)] })]],
    });
    const v = (x: number) => only.writes.find((w) => w.version === x)!.legs[0]!.visibleUs;
    expect([v(1), v(2), v(3)]).toEqual([700, 700, null]);
  });
});

describe('decomposition', () => {
  const ws = [write('a', 1, 0, 3, 0), write('b', 2, 10_000, 3, 0), write('c', 3, 20_000, 3, 0)];
  ws[1]!.client.receivedUs += 500; // a slow way back for one write
  const { writes } = cluster(ws, 3);

  test('per write the components add up to its latency exactly', () => {
    for (const w of writes) {
      const c = writeComponents(w)!;
      expect(c).toHaveLength(COMPONENTS.length);
      expect(c.reduce((s, v) => s + v, 0)).toBe(w.clientReceivedUs! - w.intendedUs!);
      expect(c[COMPONENTS.indexOf('injected_delay')]).toBe(300);
      expect(c[COMPONENTS.indexOf('delay_lateness')]).toBe(3);
    }
  });

  test('the component means sum to the measured mean latency within 2 %', () => {
    const rows = decompose(3, writes);
    const measured = writes.reduce((s, w) => s + w.clientReceivedUs! - w.intendedUs!, 0) / writes.length;
    const sum = rows.filter((r) => r.component !== 'total').reduce((s, r) => s + r.mean_us, 0);
    expect(Math.abs(sum - measured) / measured).toBeLessThan(0.02);
    expect(rows.find((r) => r.component === 'total')!.mean_us).toBeCloseTo(measured, 1);
    expect(rows.find((r) => r.component === 'leader_to_client')!.mean_us).toBeCloseTo(30 + 500 / 3, 1);
    expect(rows.reduce((s, r) => s + (r.component === 'total' ? 0 : r.share), 0)).toBeCloseTo(1, 3);
  });

  test('writes with a missing event are left out, not guessed; no complete write gives no rows', () => {
    const broken: JoinedWrite = { ...writes[0]!, responseUs: null };
    expect(decompose(3, [broken])).toEqual([]);
    expect(decompose(3, [broken, writes[1]!])[0]!.writes).toBe(1);
  });
});

describe('staleness from the trace', () => {
  test('agrees read by read with the version-based outcome on hand-built timelines', () => {
    // Read 0 µs after the ack at W=1: followers 2..5 apply later (stale); 2000 µs after: all fresh.
    const { writes } = cluster(
      [write('a', 1, 0, 1, 0), write('b', 2, 10_000, 1, 2_000), write('c', 3, 20_000, 3, 0)],
      1,
    );
    const s = traceStaleness(writes);
    expect(s.disagreements).toBe(0);
    expect(s.followerReads).toBe(15);
    expect(s.staleByTrace).toBe(s.staleByVersion);
    expect(s.staleByTrace).toBe(4 + 0 + 2);
    expect(s.staleFraction).toBeCloseTo(6 / 15, 9);
  });

  test('a read whose served version contradicts the apply times is a disagreement', () => {
    const { writes } = cluster([write('a', 1, 0, 1, 0)], 1);
    const read = writes[0]!.reads.find((r) => r.replica === 'follower5')!;
    read.outcome = 'fresh';
    expect(traceStaleness(writes).disagreements).toBe(1);
  });
});

describe('trace_q<W>.csv', () => {
  test('round-trips the joined timelines, missing events included', () => {
    const { writes } = cluster([write('a,"x"', 1, 0, 2, 0), write('b', 2, 10_000, 2, 50)], 2);
    writes[0]!.legs[2]!.appliedUs = null;
    writes[0]!.legs[2]!.applied = null;
    writes[1]!.quorumUs = null;
    const text = traceCsv(writes);
    expect(text.split('\n')[0]).toBe(
      'quorum,key,version,client,replica,intended_us,client_sent_us,leader_received_us,version_us,quorum_us,response_us,client_received_us,target_delay_us,scheduled_us,fired_us,leg_sent_us,follower_received_us,follower_applied_us,follower_applied,ack_us,leg_outcome,boot_id,visible_us,read_sent_us,read_served_us,read_received_us,read_version,read_outcome',
    );
    expect(text.trim().split('\n')).toHaveLength(1 + 2 * (N + 1));
    expect(parseTraceCsv(text)).toEqual(writes);
  });

  test('a missing column is named', () => {
    expect(() => parseTraceCsv('quorum,key\n1,a\n', 'trace_q1.csv')).toThrow(
      /trace_q1.csv: missing column\(s\) version/,
    );
  });
});

describe('WARS Monte Carlo fed by the trace', () => {
  test('overheads come from the timelines: apply − version − drawn delay, applied → ack, quorum → client, client → served', () => {
    const { writes } = cluster([write('a', 1, 0, 1, 7)], 1);
    const o = writeOverheads(writes[0]!)!;
    expect(o.applyOverheadUs).toEqual([1, 2, 3, 4, 5].map(() => 2 + 3 + 1 + 25));
    expect(o.ackLegUs).toEqual([30, 30, 30, 30, 30]);
    expect(o.clientLegUs).toBe(4 + 30);
    expect(o.readGapUs).toEqual([7, 7, 7, 7, 7]);
    expect(drawnDelays(writes)).toEqual([100, 200, 300, 400, 500]);
  });

  test('with no overheads it is the injected-delay model: stale iff the delay exceeds the W-th (two-valued delays: 1/2 − 1/32 at W = 1)', () => {
    // Ten writes whose legs drew 100 or 1000 µs, half and half overall, with nothing else in the way.
    const legWrites = Array.from({ length: 10 }, (_, n) => {
      const w = cluster([write(`k${n}`, n + 1, n * 10_000, 1, 0)], 1).writes[0]!;
      w.legs.forEach((l, i) => {
        l.targetDelayUs = (i + n) % 2 === 0 ? 100 : 1000;
        l.appliedUs = w.versionUs! + l.targetDelayUs;
        l.ackUs = l.appliedUs;
      });
      w.clientReceivedUs = w.quorumUs;
      for (const r of w.reads) r.servedUs = w.clientReceivedUs;
      return w;
    });
    expect(drawnDelays(legWrites).filter((d) => d === 100)).toHaveLength(25);
    const m1 = traceModel(legWrites, { writeQuorum: 1, visibilityOffsetsUs: [0, 1000] })!;
    expect(m1.staleFraction).toBeCloseTo(0.5 - 1 / 32, 2);
    expect(m1.fullyVisible[1]!.probability).toBe(1);
    expect(traceModel(legWrites, { writeQuorum: 5 })!.staleFraction).toBe(0);
  });

  test('a write stall shared by all legs is not mistaken for staleness', () => {
    // Every leg of half the writes is 5 ms late (one late engine wake-up), acks and reads follow:
    // nothing is ever stale, and the model must say so.
    const { writes } = cluster(
      Array.from({ length: 20 }, (_, n) => write(`k${n}`, n + 1, n * 100_000, 1, 2_000)),
      1,
    );
    writes.forEach((w, n) => {
      if (n % 2) return;
      for (const l of w.legs) {
        l.appliedUs! += 5000;
        l.ackUs! += 5000;
        l.visibleUs! += 5000;
      }
      w.quorumUs! += 5000;
      w.clientReceivedUs! += 5000;
      for (const r of w.reads) r.servedUs! += 5000;
    });
    expect(traceStaleness(writes).staleByTrace).toBe(0);
    expect(traceModel(writes, { writeQuorum: 1 })!.staleFraction).toBe(0);
  });

  test('applyAt: a free-flowing overhead moves with the delay; a stall ends when it ended, unless the new delay passes it', () => {
    // Free: overhead 120 near the median 100 → new delay 300 applies at 420.
    expect(applyAt(120, 500, 100, 300)).toBe(420);
    // Stalled: overhead 3000 (median 100) from a 500 µs delay → the stall ended at 3500.
    expect(applyAt(3000, 500, 100, 300)).toBe(3500);
    expect(applyAt(3000, 500, 100, 3900)).toBe(4000);
    expect(applyAt(100 + STALL_SLACK_US, 0, 100, 10)).toBe(10 + 100 + STALL_SLACK_US);
  });

  test('no prediction without a complete traced write', () => {
    expect(traceModel([], { writeQuorum: 1 })).toBeNull();
  });
});

describe('analyzeRun with traces', () => {
  const FIXTURE = fileURLToPath(new URL('./fixtures/run-synthetic/', import.meta.url));
  const traced = (w: number) =>
    cluster(
      Array.from({ length: 20 }, (_, n) => write(`k${n}`, n + 1, n * 10_000, w, n % 4 === 0 ? 0 : 300)),
      w,
    ).writes;

  async function analyzed(sharedClock: boolean | undefined): Promise<{ dir: string; files: string[] }> {
    const dir = await mkdtemp(join(tmpdir(), 'ql-traces-'));
    await cp(FIXTURE, dir, { recursive: true });
    if (sharedClock !== undefined) {
      const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8'));
      await writeFile(join(dir, 'meta.json'), JSON.stringify({ ...meta, trace: { sharedClock } }));
    }
    for (const w of [1, 3]) await writeFile(join(dir, `trace_q${w}.csv`), traceCsv(traced(w)));
    const { files } = await analyzeRun(dir, { monteCarloTrials: 2000 });
    return { dir, files: files.map((f) => f.slice(dir.length + 1)) };
  }
  const table = (text: string) => {
    const [head, ...rows] = parseCsv(text, 'x');
    return rows.map((r) => Object.fromEntries(head!.fields.map((c, i) => [c, r.fields[i]])));
  };

  test('writes decomposition.csv and the trace columns of model.csv and read_quorums.csv for the traced quorums', async () => {
    const { dir, files } = await analyzed(true);
    try {
      expect(files).toContain('decomposition.csv');
      expect(files).toContain('decomposition.svg');
      expect(files).toContain('trace_visibility.csv');
      expect(await readFile(join(dir, 'visibility.svg'), 'utf8')).toContain('model fed by the traces');
      expect(await readFile(join(dir, 'staleness_vs_quorum.svg'), 'utf8')).toContain('model fed by the traces');
      const dec = table(await readFile(join(dir, 'decomposition.csv'), 'utf8'));
      expect(new Set(dec.map((r) => r.quorum))).toEqual(new Set(['1', '3']));
      for (const w of ['1', '3']) {
        const rows = dec.filter((r) => r.quorum === w);
        const total = Number(rows.find((r) => r.component === 'total')!.mean_us);
        const sum = rows.filter((r) => r.component !== 'total').reduce((s, r) => s + Number(r.mean_us), 0);
        expect(Math.abs(sum - total) / total).toBeLessThan(0.02);
      }
      const model = table(await readFile(join(dir, 'model.csv'), 'utf8'));
      const byW = (w: string) => model.find((r) => r.quorum === w)!;
      expect(byW('1').model_trace_stale_fraction).not.toBe('');
      expect(byW('1').trace_stale_disagreements).toBe('0');
      expect(byW('2').model_trace_stale_fraction).toBe('');
      const report = (await readFile(join(dir, 'report.md'), 'utf8')).split('\n\n');
      expect(report[1]).toMatch(/^Cost per extra ack: \d+ µs measured, 150 µs model/);
      expect(report[2]).toMatch(/^Stale follower reads per W \(measured \/ model \/ model from traces\): W=1 /);
      expect(report[3]).toMatch(/^Fidelity: \|trace model − measured stale\| W=1 [\d.]+ pp/);
      expect(report[3]).toMatch(/disagreements: 0/);
      const rq = table(await readFile(join(dir, 'read_quorums.csv'), 'utf8'));
      expect(rq.find((r) => r.quorum === '3' && r.read_quorum === '3')!.model_trace_stale_probability).toBe('0');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('with unshared clocks the one-clock figures stay empty', async () => {
    const { dir, files } = await analyzed(false);
    try {
      expect(files).not.toContain('decomposition.csv');
      expect(files).not.toContain('decomposition.svg');
      const model = table(await readFile(join(dir, 'model.csv'), 'utf8'));
      expect(model.every((r) => r.model_trace_stale_fraction === '')).toBe(true);
      expect(await readFile(join(dir, 'report.md'), 'utf8')).toMatch(
        /Fidelity: no one-clock figures: the nodes and the harness do not share a clock/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

test('latency_vs_load.svg renders one line per W and statistic', async () => {
  const { latencyVsLoadSpec } = await import('../analysis/trace-plots.ts');
  const { renderSvg } = await import('../analysis/plots.ts');
  const pts = [1, 5].flatMap((quorum) =>
    [200, 800].map((r) => ({
      quorum,
      offered_writes_per_sec: r,
      achieved_writes_per_sec: r - 1,
      latency_mean_us: 900,
      latency_p50_us: 800 + quorum,
      latency_p99_us: 3000,
    })),
  );
  const plot = latencyVsLoadSpec(pts);
  expect((plot.spec as { data: { values: unknown[] } }).data.values).toHaveLength(8);
  expect(await renderSvg(plot.spec)).toContain('<svg');
});
