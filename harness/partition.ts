/**
 * `partition:<follower>@a-b` (issue 12): the follower keeps running but no packet reaches it or
 * leaves it, like a network partition, beside `pause` (a stopped process whose sockets still accept).
 * Done with iptables on the loopback interface: two DROP rules on the follower's TCP port (to it and
 * from it), tagged with a comment naming this process, so only our rules are ever removed. Root (or
 * CAP_NET_ADMIN) only; `checkPartitionSupport` refuses before anything starts. Every rule added is
 * removed when the fault ends, when healing, and on cancel (Ctrl-C, a failed step) synchronously.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { QuorumLabError } from '../contracts/errors.ts';

const run = promisify(execFile);

export class PartitionUnsupportedError extends QuorumLabError {
  constructor(message: string) {
    super('QL_ERR_PARTITION_UNSUPPORTED', message);
  }
}

export interface PartitionOps {
  partition(name: string): Promise<void>;
  heal(name: string): Promise<void>;
  /** Followers partitioned now. */
  active(): string[];
  /** Remove every rule still in place, synchronously (for cancel and exit paths). */
  healAllSync(): void;
}

/** The two rule specs (without -I/-D) isolating one loopback port. */
export function partitionRules(port: number, tag: string): string[][] {
  const common = ['INPUT', '-i', 'lo', '-p', 'tcp'];
  const comment = ['-m', 'comment', '--comment', tag];
  return [
    [...common, '--dport', String(port), ...comment, '-j', 'DROP'],
    [...common, '--sport', String(port), ...comment, '-j', 'DROP'],
  ];
}

/** Refuse a partition fault where this process cannot change iptables rules. */
export function checkPartitionSupport(): void {
  if (process.platform !== 'linux') throw new PartitionUnsupportedError('partition faults need Linux iptables');
  if (process.getuid?.() !== 0) {
    throw new PartitionUnsupportedError(
      'partition faults add iptables rules and need root (or CAP_NET_ADMIN); run as root or use pause instead',
    );
  }
  try {
    execFileSync('iptables', ['-w', '-L', 'INPUT', '-n'], { stdio: 'ignore' });
  } catch (err) {
    throw new PartitionUnsupportedError(
      `partition faults need a working iptables (iptables -L INPUT failed: ${(err as Error).message.split('\n')[0]})`,
    );
  }
}

/** Partition ops for followers at `ports` (name -> TCP port on 127.0.0.1). */
export function createPartitionOps(ports: ReadonlyMap<string, number>): PartitionOps {
  const tag = `quorum-lab-partition-${process.pid}`;
  const active = new Set<string>();
  const rulesOf = (name: string): string[][] => {
    const port = ports.get(name);
    if (port === undefined) throw new PartitionUnsupportedError(`no port known for ${name}`);
    return partitionRules(port, tag);
  };
  return {
    async partition(name) {
      for (const rule of rulesOf(name)) await run('iptables', ['-w', '-I', ...rule]);
      active.add(name);
    },
    async heal(name) {
      if (!active.has(name)) return;
      for (const rule of rulesOf(name)) await run('iptables', ['-w', '-D', ...rule]).catch(() => undefined);
      active.delete(name);
    },
    active: () => [...active],
    healAllSync() {
      for (const name of active) {
        for (const rule of rulesOf(name)) {
          try {
            execFileSync('iptables', ['-w', '-D', ...rule], { stdio: 'ignore' });
          } catch {
            // Already gone.
          }
        }
      }
      active.clear();
    },
  };
}
