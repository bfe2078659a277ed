/**
 * What a hunt runs: the hunt rules and IOCs of the chosen advisories (data in their packs), the user's own
 * Sigma rules and IOC lists, and the advisory facts the assessment needs. Reads the rule and IOC files here,
 * once, so workers receive plain text.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Advisory } from '../core/index.js';
import type { AssessContext } from './assess.js';
import { parseIocText } from './files.js';
import type { RuleConfig, RuleSource } from './rules.js';

const MAX_RULE_FILE_BYTES = 1024 * 1024;
const MAX_IOC_FILE_BYTES = 64 * 1024 * 1024;

export interface HuntConfig {
  rules: RuleConfig;
  assess: AssessContext;
  /** Things skipped while reading IOC lists (named by file and line). */
  warnings: string[];
}

export interface HuntConfigInput {
  advisories: readonly { advisory: Advisory; file: string }[];
  sigmaPaths: readonly string[];
  iocFiles: readonly string[];
  strict: boolean;
}

/** `.yml`/`.yaml` files of a file or folder (recursive), in a stable order. */
export function ruleFiles(path: string): string[] {
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

function readBounded(path: string, limit: number): string {
  const size = statSync(path).size;
  if (size > limit) throw new Error(`${path}: larger than ${limit} bytes`);
  return readFileSync(path, 'utf8');
}

export function huntConfig(input: HuntConfigInput): HuntConfig {
  const sources: RuleSource[] = [];
  for (const { advisory, file } of input.advisories) {
    for (const ref of advisory.hunt_rules) {
      if (ref.format !== 'sigma' || !ref.file) continue;
      const root = resolve(file, '..', ref.file);
      for (const path of ruleFiles(root)) {
        sources.push({
          file: path,
          label: `advisory ${advisory.id} ${relative(resolve(file, '..'), path)}`,
          text: readBounded(path, MAX_RULE_FILE_BYTES),
          pack: true,
        });
      }
    }
  }
  for (const path of input.sigmaPaths) {
    for (const file of ruleFiles(path)) {
      sources.push({
        file,
        label: `sigma ${file}`,
        text: readBounded(file, MAX_RULE_FILE_BYTES),
        pack: false,
      });
    }
  }
  const warnings: string[] = [];
  const iocs = { sha256: [] as string[], ips: [] as string[], paths: [] as string[] };
  for (const { advisory } of input.advisories) {
    iocs.sha256.push(...(advisory.iocs?.sha256 ?? []));
    iocs.ips.push(...(advisory.iocs?.ips ?? []));
    iocs.paths.push(...(advisory.iocs?.paths ?? []));
  }
  for (const file of input.iocFiles) {
    const parsed = parseIocText(readBounded(file, MAX_IOC_FILE_BYTES), file);
    iocs.sha256.push(...parsed.iocs.sha256);
    iocs.ips.push(...parsed.iocs.ips);
    iocs.paths.push(...parsed.iocs.paths);
    warnings.push(...parsed.skipped);
  }
  const starts = input.advisories
    .map((a) => a.advisory.exploitation_start)
    .filter((d): d is string => Boolean(d))
    .sort();
  const fixes = [
    ...new Set(
      input.advisories.flatMap((a) =>
        a.advisory.fixes.filter((f) => f.kind === 'security_update').map((f) => f.kb ?? f.id),
      ),
    ),
  ];
  return {
    rules: { sources, strict: input.strict, iocs },
    assess: { exploitationStart: starts[0], advisoryTitle: input.advisories[0]?.advisory.title, fixes },
    warnings,
  };
}
