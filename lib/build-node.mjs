// Build the node bundle into a directory of your choice (the Dockerfile's build stage):
//   node lib/build-node.mjs <out-dir>     then run it with: node <out-dir>/main.mjs
import path from 'node:path';
import { buildNodeBundle } from './node-bundle.mjs';

const out = process.argv[2];
if (!out || out === '-h' || out === '--help') {
  process.stderr.write('usage: node lib/build-node.mjs <out-dir>\n');
  process.exit(out ? 0 : 2);
}
await buildNodeBundle(path.resolve(out), { minify: true });
process.stdout.write(
  `node bundle written to ${path.resolve(out)} (run: node ${path.join(path.resolve(out), 'main.mjs')})\n`,
);
