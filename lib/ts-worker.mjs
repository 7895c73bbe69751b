// Worker threads and child processes do not inherit tsx's loader on Node 20 (`--import tsx`
// is ignored by workers), so TypeScript entry points are loaded through tsx's API here.
import { tsImport } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

await tsImport(workerData.__tsEntry, import.meta.url);
