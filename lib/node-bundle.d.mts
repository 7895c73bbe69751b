/** Repository root. */
export const REPO_ROOT: string;
/** Source entry of the node program (nodes/main.ts). */
export const NODE_ENTRY: string;
/** File name of the bundled entry inside a bundle directory ('main.mjs'). */
export const BUNDLE_MAIN: string;
/** Cache directory of this checkout's bundles (under node_modules/.cache). */
export function bundleCacheDir(root?: string): string;
/** Build the bundle into outDir; returns the inputs esbuild read, relative to root. */
export function buildNodeBundle(outDir: string, options?: { root?: string; minify?: boolean }): Promise<string[]>;
/** Absolute path of the bundled main.mjs, built first when missing or stale. */
export function ensureNodeBundle(options?: { root?: string }): Promise<string>;
