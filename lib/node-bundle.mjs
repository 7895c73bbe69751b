// The node program (nodes/main.ts) as one esbuild bundle, so a node process starts without compiling
// TypeScript (issue 13: compiling in each of six processes was most of a cluster's start time).
//
// Plain JavaScript on purpose: `npm run node` and the Docker build load this file with bare `node`,
// no TypeScript loader. Types: node-bundle.d.mts.
//
// Worker threads: a worker entry is written in the sources as
//   new URL(<'./some-worker.ts' or './some-worker.mjs'>, import.meta.url)
// (every such expression in our sources, comments included, so do not write one in a comment)
// (a string literal, relative to the file). The bundler builds every such entry as its own file beside
// main.mjs (worker-<path>.mjs) and rewrites the expression to point at it, so the same source works
// under tsx, vitest and from the bundle. See docs/nodes.md ("The node bundle").
//
// Cache: node_modules/.cache/quorum-lab/node-bundle/<checkout>/ — outside the tracked tree, one
// directory per checkout (git worktrees share node_modules). Rebuilt when any input esbuild read (our
// sources and the packages bundled in) changed size or mtime.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file lives in lib/). */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Source entry of the node program. */
export const NODE_ENTRY = path.join(REPO_ROOT, 'nodes', 'main.ts');
/** File name of the bundled entry inside a bundle directory. */
export const BUNDLE_MAIN = 'main.mjs';

const WORKER_URL_RE = /new\s+URL\(\s*(['"])(\.{1,2}\/[^'"\n]+?\.(?:ts|mts|mjs|js))\1\s*,\s*import\.meta\.url\s*\)/g;
// Lets CommonJS packages bundled into ESM (express and its dependencies) call require() for built-ins.
const BANNER =
  "import { createRequire as __qlCreateRequire } from 'node:module'; const require = __qlCreateRequire(import.meta.url);";
const MANIFEST = 'current.json';

/** Cache directory of this checkout's bundles. */
export function bundleCacheDir(root = REPO_ROOT) {
  const key = createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 12);
  return path.join(root, 'node_modules', '.cache', 'quorum-lab', 'node-bundle', key);
}

/** Output name of a worker entry: its path from the repository root, flattened. */
function workerOutName(absPath, root) {
  const rel = path.relative(root, absPath).replace(/\.(ts|mts|mjs|js)$/, '');
  return `worker-${rel.replace(/[\\/]/g, '-')}`;
}

/** esbuild plugin: rewrite worker URLs in our own sources and collect their entries. */
function workerUrlPlugin(root, workers) {
  return {
    name: 'quorum-lab-worker-urls',
    setup(build) {
      build.onLoad({ filter: /\.(ts|mts|mjs|js)$/ }, async (args) => {
        if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
        const source = await readFile(args.path, 'utf8');
        const contents = source.replace(WORKER_URL_RE, (_m, _q, rel) => {
          const target = path.resolve(path.dirname(args.path), rel);
          const name = workerOutName(target, root);
          workers.set(name, target);
          return `new URL('./${name}.mjs', import.meta.url)`;
        });
        return { contents, loader: /\.m?ts$/.test(args.path) ? 'ts' : 'js' };
      });
    },
  };
}

/**
 * Build the bundle into `outDir` (created; replaced files are overwritten). Returns the paths, relative
 * to `root`, of every input esbuild read. Worker entries found on the way are added and the build
 * repeated until no new one appears (a worker may start workers of its own).
 */
export async function buildNodeBundle(outDir, { root = REPO_ROOT, minify = false } = {}) {
  const esbuild = await import('esbuild');
  const workers = new Map();
  for (let pass = 0; pass < 10; pass++) {
    const known = workers.size;
    const entryPoints = { main: path.join(root, 'nodes', 'main.ts'), ...Object.fromEntries(workers) };
    rmSync(outDir, { recursive: true, force: true });
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints,
      outdir: outDir,
      outExtension: { '.js': '.mjs' },
      chunkNames: 'chunk-[hash]',
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      minify,
      sourcemap: 'linked',
      metafile: true,
      logLevel: 'silent',
      banner: { js: BANNER },
      plugins: [workerUrlPlugin(root, workers)],
    });
    if (workers.size === known) return Object.keys(result.metafile.inputs).map((p) => p.replace(/^[^:]+:/, ''));
  }
  throw Object.assign(new Error('node bundle: worker entries keep appearing after 10 passes'), {
    code: 'QL_ERR_BUNDLE',
  });
}

function statKey(file) {
  try {
    const s = statSync(file);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/** The cached bundle's main file if every input is unchanged, else undefined. */
function freshBundle(cacheDir, root) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(path.join(cacheDir, MANIFEST), 'utf8'));
  } catch {
    return undefined;
  }
  const main = path.join(cacheDir, manifest.dir, BUNDLE_MAIN);
  if (!existsSync(main)) return undefined;
  for (const [rel, key] of Object.entries(manifest.inputs))
    if (statKey(path.resolve(root, rel)) !== key) return undefined;
  return main;
}

/** Keep the newest few bundle directories: a running cluster may still use an older one. */
function prune(cacheDir, keep, current) {
  const dirs = readdirSync(cacheDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name.startsWith('b-'))
    .map((d) => ({ name: d.name, mtimeMs: statSync(path.join(cacheDir, d.name)).mtimeMs }))
    .sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const d of dirs.slice(keep))
    if (d.name !== current) rmSync(path.join(cacheDir, d.name), { recursive: true, force: true });
}

/**
 * Path of the bundled node entry (main.mjs), building it first when it is missing or stale. Safe to
 * call from several processes at once: each build goes to its own directory and the manifest is
 * replaced atomically.
 */
export async function ensureNodeBundle({ root = REPO_ROOT } = {}) {
  const cacheDir = bundleCacheDir(root);
  const cached = freshBundle(cacheDir, root);
  if (cached) return cached;
  mkdirSync(cacheDir, { recursive: true });
  const name = `b-${Date.now().toString(36)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const outDir = path.join(cacheDir, name);
  const inputs = await buildNodeBundle(outDir, { root });
  const manifest = {
    dir: name,
    inputs: Object.fromEntries(inputs.map((rel) => [rel, statKey(path.resolve(root, rel))])),
  };
  const tmp = path.join(cacheDir, `${MANIFEST}.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(manifest));
  renameSync(tmp, path.join(cacheDir, MANIFEST));
  prune(cacheDir, 4, name);
  return path.join(outDir, BUNDLE_MAIN);
}
