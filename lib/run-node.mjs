// `npm run node`: one node process from the cached bundle (built first when stale), in this process:
// no TypeScript loader stays loaded in a running node. Configuration: docs/nodes.md.
import { pathToFileURL } from 'node:url';
import { ensureNodeBundle } from './node-bundle.mjs';

await import(pathToFileURL(await ensureNodeBundle()).href);
