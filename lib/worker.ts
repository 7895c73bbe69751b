/**
 * Start a worker thread from a source entry, whether the caller runs from TypeScript sources (tsx,
 * vitest) or from the node bundle (lib/node-bundle.mjs). Safe to import from node code: it loads
 * nothing from tsx unless it is asked to start a .ts file.
 *
 * Write the entry inline as a `new URL` of a string literal (the path relative to the calling file) and
 * `import.meta.url`: the bundler rewrites exactly that expression to the bundled worker-*.mjs file.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the bootstrap that loads a TypeScript module inside a worker thread. Built by
 * path arithmetic, not `new URL(literal, import.meta.url)`, so the bundler does not treat it as a worker.
 */
export function tsWorkerBootstrap(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), 'ts-worker.mjs');
}

/** Start a worker thread: a .ts entry through the tsx bootstrap (workers do not inherit tsx), anything else directly. */
export function createTsWorker(entry: string | URL, options: WorkerOptions = {}): Worker {
  const file = entry instanceof URL ? fileURLToPath(entry) : entry;
  if (!/\.m?ts$/.test(file)) return new Worker(file, options);
  const workerData = { ...(options.workerData as object | undefined), __tsEntry: file };
  return new Worker(tsWorkerBootstrap(), { ...options, workerData });
}
