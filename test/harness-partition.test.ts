/** partition faults (issue 12): iptables rules on one loopback port, refused where not permitted, always removed. */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { parseFault } from '../harness/faults.ts';
import { checkPartitionSupport, createPartitionOps, partitionRules } from '../harness/partition.ts';
import { createConnection, fastRequest } from '../harness/fast-client.ts';

function iptablesUsable(): boolean {
  try {
    checkPartitionSupport();
    return true;
  } catch {
    return false;
  }
}

const ourRules = (): string[] =>
  execFileSync('iptables', ['-w', '-S', 'INPUT'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(`quorum-lab-partition-${process.pid}`));

afterEach(() => vi.restoreAllMocks());

describe('partition faults', () => {
  test('the spec takes a follower or a count and a range, like pause', () => {
    expect(parseFault('partition:follower2@2s-14s', 5)).toMatchObject({
      action: 'partition',
      target: { kind: 'name', name: 'follower2' },
      until: { unit: 'ms', value: 14_000 },
    });
    expect(parseFault('partition:1@10%', 5)).toMatchObject({ action: 'partition', until: null });
    expect(() => parseFault('partition:leader@1s', 5)).toThrow(/leader cannot be faulted/);
  });

  test('two DROP rules on the port, both directions, tagged', () => {
    expect(partitionRules(8001, 'tag')).toEqual([
      ['INPUT', '-i', 'lo', '-p', 'tcp', '--dport', '8001', '-m', 'comment', '--comment', 'tag', '-j', 'DROP'],
      ['INPUT', '-i', 'lo', '-p', 'tcp', '--sport', '8001', '-m', 'comment', '--comment', 'tag', '-j', 'DROP'],
    ]);
  });

  test('refused with a named error where this process is not root', () => {
    vi.spyOn(process as { getuid: () => number }, 'getuid').mockReturnValue(1000);
    expect(() => checkPartitionSupport()).toThrow(
      expect.objectContaining({ code: 'QL_ERR_PARTITION_UNSUPPORTED', message: expect.stringMatching(/need root/) }),
    );
  });

  test.skipIf(!iptablesUsable())(
    'a partitioned server gets no request through; healing restores it and leaves no rule',
    async () => {
      const server = createServer((req, res) => {
        req.resume();
        res.end('ok');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      const ops = createPartitionOps(new Map([['follower1', port]]));
      const ask = async (): Promise<string> => {
        const c = createConnection(`http://127.0.0.1:${port}`, { timeoutMs: 300 });
        try {
          return (await fastRequest(c, { method: 'GET', path: '/', timeoutMs: 300 })).text;
        } catch (err) {
          return (err as { code?: string }).code ?? 'error';
        } finally {
          c.destroy();
        }
      };
      try {
        expect(await ask()).toBe('ok');
        await ops.partition('follower1');
        expect(ourRules()).toHaveLength(2);
        expect(ops.active()).toEqual(['follower1']);
        expect(await ask()).not.toBe('ok');
        await ops.heal('follower1');
        expect(ourRules()).toHaveLength(0);
        expect(await ask()).toBe('ok');
        // The synchronous path (cancel, exit) removes what is left.
        await ops.partition('follower1');
        ops.healAllSync();
        expect(ourRules()).toHaveLength(0);
      } finally {
        ops.healAllSync();
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    },
  );
});
