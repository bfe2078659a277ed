/**
 * The knowledge base a command works with: built-in advisory packs and catalogs, plus what the user imported
 * into the data directory, with CISA KEV enrichment applied, compiled into an exposure engine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Advisory,
  type Catalog,
  CatalogIndex,
  ExposureEngine,
  type Kev,
  kevValidator,
} from '../core/index.js';
import { applyKev } from './import/kev.js';
import { loadBuiltinAdvisories, loadBuiltinCatalogs, loadUserAdvisories } from './load.js';

export interface KnowledgeBase {
  advisories: Advisory[];
  /** Where each advisory came from: "built-in" or the data directory. */
  sourceOf: Map<string, 'built-in' | 'data-dir'>;
  /** The file each advisory was loaded from (rule files it names are relative to it). */
  fileOf: Map<string, string>;
  catalogs: Catalog[];
  catalogIndex: CatalogIndex;
  engine: ExposureEngine;
}

export const KEV_FILE = 'kev.json';

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.BULWARK_DATA_DIR || 'bulwark-data';
}

/** KEV enrichment saved by `advisories import` of a KEV catalog: `{ "CVE-…": Kev }`. */
export function loadKevEnrichment(dataDir: string): Map<string, Kev> {
  const path = join(dataDir, KEV_FILE);
  if (!existsSync(path)) return new Map();
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const out = new Map<string, Kev>();
  for (const [cve, value] of Object.entries(raw)) {
    const parsed = kevValidator.safeParse(value);
    if (!parsed.success)
      throw new Error(`${path}: ${cve}: ${parsed.issues[0]?.message}; re-import the KEV catalog`);
    out.set(cve, parsed.data);
  }
  return out;
}

export function loadKnowledgeBase(options: { dataDir?: string } = {}): KnowledgeBase {
  const sourceOf = new Map<string, 'built-in' | 'data-dir'>();
  const fileOf = new Map<string, string>();
  const byId = new Map<string, Advisory>();
  for (const { advisory, file } of loadBuiltinAdvisories()) {
    byId.set(advisory.id, advisory);
    sourceOf.set(advisory.id, 'built-in');
    fileOf.set(advisory.id, file);
  }
  if (options.dataDir) {
    for (const { advisory, file } of loadUserAdvisories(options.dataDir)) {
      if (sourceOf.get(advisory.id) === 'data-dir') {
        throw new Error(`advisory id ${advisory.id} is defined twice in ${options.dataDir}/advisories`);
      }
      // A user file with a built-in id replaces the built-in (to carry a newer version of a pack).
      byId.set(advisory.id, advisory);
      sourceOf.set(advisory.id, 'data-dir');
      fileOf.set(advisory.id, file);
    }
  }
  let advisories = [...byId.values()];
  if (options.dataDir) {
    const kev = loadKevEnrichment(options.dataDir);
    if (kev.size) advisories = applyKev(advisories, kev).advisories;
  }
  const catalogs = loadBuiltinCatalogs();
  const catalogIndex = new CatalogIndex(catalogs);
  return {
    advisories,
    sourceOf,
    fileOf,
    catalogs,
    catalogIndex,
    engine: new ExposureEngine(advisories, catalogIndex),
  };
}
