// Copies the data files that ship beside the compiled code (advisory packs, catalogs, the agent's PowerShell
// collector) into dist/.
import { cpSync, existsSync } from 'node:fs';

for (const dir of ['advisories/packs', 'advisories/catalogs']) {
  const from = new URL(`../src/${dir}`, import.meta.url);
  if (existsSync(from)) cpSync(from, new URL(`../dist/${dir}`, import.meta.url), { recursive: true });
}
// The agent runs its Windows collector from beside its compiled module; the fixtures stay in the source tree.
cpSync(
  new URL('../src/agent/inventory/windows', import.meta.url),
  new URL('../dist/agent/inventory/windows', import.meta.url),
  {
    recursive: true,
    filter: (src) => !src.includes('fixtures'),
  },
);
