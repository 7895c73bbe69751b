// `npm run node`: one node process from the cached bundle (built first when stale), in this process:
// no TypeScript loader stays loaded in a running node. A node is configured by its environment
// (docs/nodes.md); the only flag is -h/--help. Exit codes as nodes/main.ts, and 2 for a bad flag.
import { pathToFileURL } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ensureNodeBundle } from './node-bundle.mjs';

const USAGE = `ROLE=leader|follower [VARIABLE=value ...] npm run node

Start one node (leader or follower) on PORT. It takes no flags: every setting is an environment variable.
  ROLE                 leader or follower (required)
  PORT, HOST           where to listen (default 5000 on 127.0.0.1; PORT=0 = ephemeral)
  SERVER               http (default) or express
  FOLLOWERS            leader: comma-separated follower base URLs (required)
  WRITE_QUORUM         leader: W, 1..followers (default 3)
  MIN_DELAY, MAX_DELAY leader: injected delay bounds (default 0.1ms, 1ms)
  QUORUM_TIMEOUT, REPLICATION_TIMEOUT, DELAY_SEED, SCHEDULER, LEADER_PRIORITY, LEADER_URL, REPLICATION_TOKEN
Every variable, with its default: docs/nodes.md. Examples:
  ROLE=follower PORT=5001 npm run node
  ROLE=leader PORT=5000 FOLLOWERS=http://127.0.0.1:5001 WRITE_QUORUM=1 npm run node`;

yargs(hideBin(process.argv))
  .scriptName('npm run node')
  .usage(USAGE)
  .strict()
  .version(false)
  .help('help')
  .alias('help', 'h')
  .fail((msg, err) => {
    process.stderr.write(`node: ${(err?.message ?? msg).split('\n')[0]} (see --help)\n`);
    process.exit(2);
  })
  .parseSync();

await import(pathToFileURL(await ensureNodeBundle()).href);
