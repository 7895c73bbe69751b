import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

export { createTsWorker, tsWorkerBootstrap } from './worker.ts';

/**
 * The `--import` argument that lets a child `node` process run a .ts entry point. Resolved to an
 * absolute URL so the child's working directory does not matter; createRequire rather than
 * import.meta.resolve because vitest's module runner does not provide the latter. Not for node
 * processes: those run the bundle (lib/node-bundle.mjs).
 */
export const TSX_IMPORT_ARGS: readonly string[] = [
  '--import',
  pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href,
];
