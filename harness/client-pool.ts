/**
 * The main-thread side of the clients: a piscina pool with one task per thread per quorum step,
 * a warm-up barrier (so the leader's stats can be reset between warm-up and measurement), progress
 * aggregation and an early stop.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { ClientResult, ClientTask, Message } from './client.ts';
import { decodeHistogram, createHistogram, type Histogram } from './histogram.ts';

export type StepTask = Omit<ClientTask, 'thread' | 'clientIds'>;

export interface StepProgress {
  done: number;
  /** Merged partial latency histogram, when the tasks send one. */
  histogram?: Histogram;
}

export interface StepHooks {
  /** Between warm-up and measurement (all threads warmed). */
  onWarmed?: () => Promise<void>;
  onProgress?: (progress: StepProgress) => void;
  /** Right after the measured phase was started on every thread (the fault schedule's time zero). */
  onGo?: () => void;
  signal?: AbortSignal;
}

export interface ClientPool {
  readonly threads: number;
  runStep(task: StepTask, hooks?: StepHooks): Promise<ClientResult[]>;
  close(): Promise<void>;
}

const WORKER_FILE = fileURLToPath(new URL('./client-worker.mjs', import.meta.url));

/** Logical clients go round-robin to threads, so thread loads differ by at most one client. */
export function splitClients(clients: number, threads: number): number[][] {
  const out: number[][] = Array.from({ length: threads }, () => []);
  for (let c = 0; c < clients; c++) out[c % threads]!.push(c);
  return out;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * The threads' progress reports as one. Each thread's histogram is decoded once, when it arrives, and
 * the threads' histograms are merged once per round (when every thread has sent a new one), not at
 * every report: decoding and merging cost ~1-2 ms of main-thread CPU, and reports come every 250 ms
 * per thread.
 */
export function createProgressMerge(threads: number): {
  update(thread: number, report: { done: number; histogram?: string }): StepProgress;
} {
  const done = new Array<number>(threads).fill(0);
  const latest = new Array<Histogram | null>(threads).fill(null);
  const fresh = new Array<boolean>(threads).fill(false);
  let merged: Histogram | undefined;
  return {
    update(thread, report) {
      done[thread] = report.done;
      if (report.histogram !== undefined) {
        // A thread reporting twice in one round means the others stopped (finished): merge anyway.
        const again = fresh[thread]!;
        latest[thread] = decodeHistogram(report.histogram);
        fresh[thread] = true;
        if ((again || fresh.every(Boolean)) && latest.every((h) => h !== null)) {
          merged = createHistogram();
          for (const h of latest) merged.add(h!);
          fresh.fill(false);
        }
      }
      return { done: done.reduce((a, n) => a + n, 0), histogram: merged };
    },
  };
}

export function createClientPool(threads: number): ClientPool {
  const pool = new Piscina({
    filename: WORKER_FILE,
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: 1,
    idleTimeout: 60_000,
  });

  const runStep = async (step: StepTask, hooks: StepHooks = {}): Promise<ClientResult[]> => {
    const groups = splitClients(step.totalClients, threads);
    const channels = groups.map(() => new MessageChannel());
    const warmed = groups.map(() => deferred());
    const mains: MessagePort[] = channels.map((c) => c.port1);
    const progress = createProgressMerge(groups.length);

    const stopAll = (): void => {
      for (const p of mains) p.postMessage({ cmd: 'stop' } satisfies Message);
    };
    const onAbort = (): void => stopAll();
    hooks.signal?.addEventListener('abort', onAbort, { once: true });

    mains.forEach((port, i) => {
      port.on('message', (msg: Message) => {
        if (msg.cmd === 'warmed') warmed[i]!.resolve();
        else if (msg.cmd === 'progress' && hooks.onProgress)
          hooks.onProgress(progress.update(i, msg.data as { done: number; histogram?: string }));
      });
    });

    const runs = groups.map((clientIds, thread) => {
      const port = channels[thread]!.port2;
      const task: ClientTask = { ...step, thread, clientIds };
      return pool.run({ task, port }, { transferList: [port] }) as Promise<ClientResult>;
    });
    // Never leave a task running when another one failed.
    const all = Promise.all(runs);
    all.catch(stopAll);

    try {
      await Promise.race([Promise.all(warmed.map((w) => w.promise)), all]);
      if (hooks.signal?.aborted) stopAll();
      else {
        try {
          await hooks.onWarmed?.();
        } catch (err) {
          stopAll();
          await Promise.allSettled(runs);
          throw err;
        }
      }
      for (const p of mains) p.postMessage({ cmd: 'go' } satisfies Message);
      hooks.onGo?.();
      return await all;
    } catch (err) {
      await Promise.allSettled(runs);
      throw err;
    } finally {
      hooks.signal?.removeEventListener('abort', onAbort);
      for (const p of mains) p.close();
    }
  };

  return { threads, runStep, close: () => pool.destroy() };
}
