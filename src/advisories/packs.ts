/**
 * Which files of an advisory pack feed which capability: the SecLang virtual patches the shield (gateway and
 * exporters) enforces, the Sigma rules and IOCs a hunt runs. Paths in a pack are relative to its advisory file;
 * a path ending in `/` names a folder. The CLI and the server both resolve packs through these functions.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Advisory } from '../core/index.js';
import type { KnowledgeBase } from './knowledge.js';

/** An advisory id the knowledge base does not hold, or a pack without the files a capability asks for. */
export class PackError extends Error {
  override name = 'PackError';
}

/** A loaded advisory and the file it came from (the base of the relative paths it names). */
export interface PackAdvisory {
  advisory: Advisory;
  file: string;
}

/** The advisory `id` of the knowledge base with its file, or a PackError naming the id. */
export function packAdvisory(kb: KnowledgeBase, id: string): PackAdvisory {
  const advisory = kb.advisories.find((a) => a.id === id);
  const file = kb.fileOf.get(id);
  if (!advisory || !file) throw new PackError(`no advisory "${id}" (see: bulwark advisories list)`);
  return { advisory, file };
}

/**
 * The SecLang files of an advisory's virtual patches, in a stable order; patches whose id ends in `-strict`
 * only when `strict`. A folder reference contributes its `.conf` files. PackError when there is none.
 */
export function virtualPatchFiles(kb: KnowledgeBase, id: string, strict: boolean): string[] {
  const { advisory, file } = packAdvisory(kb, id);
  const base = resolve(file, '..');
  const files: string[] = [];
  for (const ref of advisory.virtual_patches) {
    if (ref.format !== 'seclang' || !ref.file || (!strict && ref.id.endsWith('-strict'))) continue;
    const path = resolve(base, ref.file);
    const names = ref.file.endsWith('/')
      ? readdirSync(path)
          .filter((n) => n.endsWith('.conf'))
          .sort()
      : [''];
    for (const n of names) files.push(n ? join(path, n) : path);
  }
  if (!files.length) throw new PackError(`advisory ${id} has no SecLang virtual patch`);
  return files;
}

/** `.yml`/`.yaml` files of a file or folder (recursive), in a stable order. */
export function sigmaRuleFiles(path: string): string[] {
  const info = statSync(path);
  if (info.isFile()) return [path];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && /\.ya?ml$/i.test(e.name)) out.push(p);
    }
  };
  walk(path);
  return out;
}

/** A Sigma rule file of a pack, with the label reports name it by ("advisory ID relative/path.yml"). */
export interface PackRuleFile {
  path: string;
  label: string;
}

/** The Sigma rule files of an advisory's hunt rules. */
export function huntRuleFiles(pack: PackAdvisory): PackRuleFile[] {
  const base = resolve(pack.file, '..');
  const out: PackRuleFile[] = [];
  for (const ref of pack.advisory.hunt_rules) {
    if (ref.format !== 'sigma' || !ref.file) continue;
    for (const path of sigmaRuleFiles(resolve(base, ref.file))) {
      out.push({ path, label: `advisory ${pack.advisory.id} ${relative(base, path)}` });
    }
  }
  return out;
}

/** The IOCs an advisory's pack lists (hashes, addresses, paths), empty lists when it has none. */
export function packIocs(advisory: Advisory): { sha256: string[]; ips: string[]; paths: string[] } {
  return {
    sha256: [...(advisory.iocs?.sha256 ?? [])],
    ips: [...(advisory.iocs?.ips ?? [])],
    paths: [...(advisory.iocs?.paths ?? [])],
  };
}

/**
 * The advisories a hunt runs: the one named `id`, or without an id every advisory with hunt rules or IOCs.
 * PackError for an id the knowledge base does not hold.
 */
export function huntAdvisories(kb: KnowledgeBase, id?: string): PackAdvisory[] {
  if (id) return [packAdvisory(kb, id)];
  return kb.advisories
    .filter((a) => a.hunt_rules.length > 0 || a.iocs)
    .map((advisory) => ({ advisory, file: kb.fileOf.get(advisory.id)! }));
}
