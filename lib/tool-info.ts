/** Which quorum-lab produced an output: package name and version, and the git commit when run from a checkout. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ToolInfo } from '../contracts/meta.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export function toolInfo(): ToolInfo {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    name: string;
    version: string;
  };
  let gitCommit: string | null = null;
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    });
    gitCommit = out.toString().trim() || null;
  } catch {
    gitCommit = null;
  }
  return { name: pkg.name, version: pkg.version, gitCommit };
}
