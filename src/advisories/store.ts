/**
 * Saving imported advisories and KEV enrichment into the data directory, all or nothing: every file is
 * written to a temporary name first and only renamed into place once all writes succeeded.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Advisory, Kev } from '../core/index.js';
import { KEV_FILE, loadKevEnrichment } from './knowledge.js';

export interface SavedImport {
  files: string[];
  kevEntries: number;
}

export function saveImport(
  dataDir: string,
  advisories: readonly Advisory[],
  kev: ReadonlyMap<string, Kev>,
): SavedImport {
  const advisoryDir = join(dataDir, 'advisories');
  mkdirSync(advisoryDir, { recursive: true });
  const writes: { path: string; text: string }[] = advisories.map((a) => ({
    path: join(advisoryDir, `${a.id}.yaml`),
    text: `# Imported by bulwark from ${a.origin ?? 'a feed'}; re-import to update.\n${stringify(a, { lineWidth: 0 })}`,
  }));
  if (kev.size) {
    // The newest catalog wins for the CVEs it lists; others keep what an earlier import saved.
    const merged = Object.fromEntries([...loadKevEnrichment(dataDir), ...kev]);
    writes.push({ path: join(dataDir, KEV_FILE), text: `${JSON.stringify(merged, null, 1)}\n` });
  }
  const temps: string[] = [];
  try {
    for (const w of writes) {
      const tmp = `${w.path}.${process.pid}.tmp`;
      writeFileSync(tmp, w.text, { flag: 'wx' });
      temps.push(tmp);
    }
  } catch (err) {
    for (const t of temps) rmSync(t, { force: true });
    throw err;
  }
  writes.forEach((w, i) => {
    renameSync(temps[i]!, w.path);
  });
  return { files: writes.map((w) => w.path), kevEntries: kev.size };
}
