/**
 * Reading advisory packs and catalogs from disk: the built-in ones shipped beside the code and the user's own
 * under the data directory. Every file is validated (schema, then versions against their scheme) and a bad
 * file fails with one error naming file, line and field.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Advisory,
  AdvisoryCompileError,
  advisorySchema,
  type Catalog,
  catalogSchema,
  type DataIssue,
  ExposureEngine,
  MAX_DATA_FILE_BYTES,
  parseDataText,
} from '../core/index.js';

const builtinDir = (kind: 'packs' | 'catalogs') => fileURLToPath(new URL(`./${kind}/`, import.meta.url));

export function readDataFile(path: string): string {
  const size = statSync(path).size;
  if (size > MAX_DATA_FILE_BYTES)
    throw new Error(`${path}: file is larger than ${MAX_DATA_FILE_BYTES} bytes`);
  return readFileSync(path, 'utf8');
}

/** Versions must parse under the advisory's schemes and ranges must not be empty; the engine's compiler checks both. */
function checkAdvisoryVersions(advisory: Advisory): DataIssue | undefined {
  try {
    new ExposureEngine([advisory]);
    return undefined;
  } catch (err) {
    if (err instanceof AdvisoryCompileError) return { path: err.path, message: err.detail };
    throw err;
  }
}

export function parseAdvisory(text: string, file: string): Advisory {
  return parseDataText(text, file, advisorySchema, checkAdvisoryVersions);
}

export function loadAdvisoryFile(path: string): Advisory {
  return parseAdvisory(readDataFile(path), path);
}

export function loadCatalogFile(path: string): Catalog {
  return parseDataText(readDataFile(path), path, catalogSchema);
}

function dataFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => /\.(ya?ml|json)$/i.test(n))
    .sort()
    .map((n) => join(dir, n));
}

export function loadBuiltinAdvisories(): Advisory[] {
  return dataFiles(builtinDir('packs')).map(loadAdvisoryFile);
}

export function loadBuiltinCatalogs(): Catalog[] {
  return dataFiles(builtinDir('catalogs')).map(loadCatalogFile);
}

/** Advisories the user imported or wrote, under `<dataDir>/advisories/`. */
export function loadUserAdvisories(dataDir: string): Advisory[] {
  return dataFiles(join(dataDir, 'advisories')).map(loadAdvisoryFile);
}
