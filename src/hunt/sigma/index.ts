/**
 * Sigma rules for `bulwark hunt`: load rule files (SigmaHQ rules unmodified, and Bulwark's advisory-pack rules
 * with their `bulwark:` block), compile them per log type through the field mappings, and match parsed records.
 * Rules Bulwark cannot evaluate are returned as UnsupportedRule with a reason, never dropped.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LogType } from '../types.js';
import { type CompiledSigma, compileRule } from './compile.js';
import { LOGSOURCES, loadSigmaRule, MAX_RULE_BYTES } from './load.js';
import type { LoadedRule, UnsupportedRule } from './model.js';

export { type CompiledSigma, compileRule, keywordText } from './compile.js';
export {
  ECP_COLUMNS,
  type FieldAccess,
  HTTPPROXY_COLUMNS,
  IIS_W3C_COLUMNS,
  resolveField,
  WEBSERVER_FIELDS,
  WINDOWS_FIELDS,
} from './fields.js';
export { LOGSOURCES, loadSigmaRule, MAX_RULE_BYTES } from './load.js';
export {
  isUnsupported,
  type LoadedRule,
  type RuleMode,
  type Taxonomy,
  type UnsupportedRule,
} from './model.js';

/** At most this many rule files are read from one directory tree. */
export const MAX_RULE_FILES = 20_000;

/**
 * `.yml`/`.yaml` files of a file or folder, recursively, sorted by name at each level. Symbolic links to folders are
 * not followed; a link named `*.yml` is listed (and reported by loadSigmaDirectory if it is not a readable file).
 */
export function sigmaFiles(path: string): string[] {
  if (statSync(path).isFile()) return [path];
  const out: string[] = [];
  const walk = (dir: string) => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/i.test(e.name) && (e.isFile() || e.isSymbolicLink())) {
        if (out.length >= MAX_RULE_FILES) throw new Error(`${path}: more than ${MAX_RULE_FILES} rule files`);
        out.push(p);
      }
    }
  };
  walk(path);
  return out;
}

/**
 * Loads every rule file under `dir` (or the file `dir`) in a deterministic order. Files over MAX_RULE_BYTES, and
 * rules whose id was already loaded from an earlier file, are reported as unsupported. Throws only when `dir`
 * itself cannot be read.
 */
export function loadSigmaDirectory(dir: string): { rules: LoadedRule[]; unsupported: UnsupportedRule[] } {
  const rules: LoadedRule[] = [];
  const unsupported: UnsupportedRule[] = [];
  const seen = new Map<string, string>();
  for (const file of sigmaFiles(dir)) {
    const name = file
      .split(/[\\/]/)
      .pop()!
      .replace(/\.ya?ml$/i, '');
    let text: string;
    try {
      const size = statSync(file).size;
      if (size > MAX_RULE_BYTES) {
        unsupported.push({
          kind: 'unsupported',
          id: name,
          title: name,
          file,
          reason: `the file is larger than ${MAX_RULE_BYTES} bytes`,
        });
        continue;
      }
      text = readFileSync(file, 'utf8');
    } catch (e) {
      unsupported.push({
        kind: 'unsupported',
        id: name,
        title: name,
        file,
        reason: `the file could not be read: ${e instanceof Error ? e.message : String(e)}`,
      });
      continue;
    }
    const r = loadSigmaRule(text, file);
    if (r.kind === 'unsupported') {
      unsupported.push(r);
      continue;
    }
    const first = seen.get(r.id);
    if (first !== undefined) {
      unsupported.push({
        kind: 'unsupported',
        id: r.id,
        title: r.title,
        file,
        reason: `rule id ${r.id} is already used by ${first}`,
      });
      continue;
    }
    seen.set(r.id, file);
    rules.push(r);
  }
  return { rules, unsupported };
}

/**
 * Compiles each rule for each log type its log source applies to (or only `types`, when given). A rule that
 * cannot run on one of its types (a field that log does not have) is reported for that type.
 */
export function compileRules(
  rules: readonly LoadedRule[],
  types?: readonly LogType[],
): { compiled: CompiledSigma[]; unsupported: UnsupportedRule[] } {
  const compiled: CompiledSigma[] = [];
  const unsupported: UnsupportedRule[] = [];
  for (const rule of rules) {
    for (const type of rule.types) {
      if (types && !types.includes(type)) continue;
      const c = compileRule(rule, type);
      if (c.kind === 'unsupported') unsupported.push(c);
      else compiled.push(c);
    }
  }
  return { compiled, unsupported };
}

/** The log-source table for documentation. */
export const SIGMA_LOGSOURCES = LOGSOURCES;
