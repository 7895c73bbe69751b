// Node 20 worker threads do not inherit tsx's loader, so piscina loads this shim, which loads the
// TypeScript task through tsx's API.
import { tsImport } from 'tsx/esm/api';

const mod = await tsImport('./client-worker.ts', import.meta.url);
export default mod.default;
