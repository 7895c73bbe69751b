import { Worker, type WorkerOptions } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

/** Absolute path of the bootstrap that loads a TypeScript module inside a worker thread. */
export const TS_WORKER_BOOTSTRAP = fileURLToPath(new URL('./ts-worker.mjs', import.meta.url));

/**
 * The `--import` argument that lets a child `node` process run a .ts entry point. Resolved to an
 * absolute URL so the child's working directory does not matter; createRequire rather than
 * import.meta.resolve because vitest's module runner does not provide the latter.
 */
export const TSX_IMPORT_ARGS: readonly string[] = ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href];

/** Start a worker thread running a TypeScript file (absolute path or file URL). */
export function createTsWorker(entry: string | URL, options: WorkerOptions = {}): Worker {
  const file = entry instanceof URL ? fileURLToPath(entry) : entry;
  const workerData = { ...(options.workerData as object | undefined), __tsEntry: file };
  return new Worker(TS_WORKER_BOOTSTRAP, { ...options, workerData });
}
