// Copies the data files that ship beside the compiled code (advisory packs, catalogs) into dist/.
import { cpSync, existsSync } from 'node:fs';

for (const dir of ['advisories/packs', 'advisories/catalogs']) {
  const from = new URL(`../src/${dir}`, import.meta.url);
  if (existsSync(from)) cpSync(from, new URL(`../dist/${dir}`, import.meta.url), { recursive: true });
}
