/** `npm run docs`: writes the docs that are rendered from contracts/ (a test checks they are in step). */
import { writeFile } from 'node:fs/promises';
import { renderRunFolderDoc } from './run-folder.ts';

await writeFile(new URL('../docs/run-folder.md', import.meta.url), renderRunFolderDoc());
process.stdout.write('wrote docs/run-folder.md\n');
