/**
 * Reading advisory packs and catalogs from disk: the built-in ones shipped beside the code and the user's own
 * under the data directory. Every file is validated (schema, then versions against their scheme) and a bad
 * file fails with one error naming file, line and field.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Advisory,
  AdvisoryCompileError,
  advisoryValidator,
  type Catalog,
  catalogValidator,
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

/** Rule files named by `hunt_rules` / `virtual_patches` must exist beside the advisory (a folder is fine). */
function checkRuleFiles(advisory: Advisory, baseDir: string): DataIssue | undefined {
  for (const key of ['hunt_rules', 'virtual_patches'] as const) {
    for (const [i, ref] of advisory[key].entries()) {
      if (!ref.file === !ref.inline) return { path: [key, i], message: 'give exactly one of file or inline' };
      if (ref.file && !existsSync(resolve(baseDir, ref.file))) {
        return { path: [key, i, 'file'], message: `${ref.file} does not exist beside the advisory file` };
      }
    }
  }
  return undefined;
}

/** Parses advisory text; with `baseDir`, rule files it names must exist there. */
export function parseAdvisory(text: string, file: string, baseDir?: string): Advisory {
  return parseDataText(
    text,
    file,
    advisoryValidator,
    (a) => checkAdvisoryVersions(a) ?? (baseDir ? checkRuleFiles(a, baseDir) : undefined),
  );
}

export function loadAdvisoryFile(path: string): Advisory {
  return parseAdvisory(readDataFile(path), path, dirname(path));
}

/** Where a rule file named by an advisory lives. */
export function ruleFilePath(advisoryFile: string, ref: string): string {
  return resolve(dirname(advisoryFile), ref);
}

export function loadCatalogFile(path: string): Catalog {
  return parseDataText(readDataFile(path), path, catalogValidator);
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

export interface LoadedAdvisory {
  advisory: Advisory;
  file: string;
}

const loadWithFile = (file: string): LoadedAdvisory => ({ advisory: loadAdvisoryFile(file), file });

export function loadBuiltinAdvisories(): LoadedAdvisory[] {
  return dataFiles(builtinDir('packs')).map(loadWithFile);
}

export function loadBuiltinCatalogs(): Catalog[] {
  return dataFiles(builtinDir('catalogs')).map(loadCatalogFile);
}

/** Advisories the user imported or wrote, under `<dataDir>/advisories/`. */
export function loadUserAdvisories(dataDir: string): LoadedAdvisory[] {
  return dataFiles(join(dataDir, 'advisories')).map(loadWithFile);
}
