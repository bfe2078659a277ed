/**
 * What a hunt runs: the hunt rules and IOCs of the chosen advisories (data in their packs), the user's own
 * Sigma rules and IOC lists, and the advisory facts the assessment needs. Reads the rule and IOC files here,
 * once, so workers receive plain text.
 */
import { readFileSync, statSync } from 'node:fs';
import { huntRuleFiles, type PackAdvisory, packIocs, sigmaRuleFiles } from '../advisories/index.js';
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
  /** The advisories whose packs feed the hunt (see advisories/packs.ts huntAdvisories). */
  advisories: readonly PackAdvisory[];
  sigmaPaths: readonly string[];
  iocFiles: readonly string[];
  strict: boolean;
}

function readBounded(path: string, limit: number): string {
  const size = statSync(path).size;
  if (size > limit) throw new Error(`${path}: larger than ${limit} bytes`);
  return readFileSync(path, 'utf8');
}

export function huntConfig(input: HuntConfigInput): HuntConfig {
  const sources: RuleSource[] = [];
  for (const pack of input.advisories) {
    for (const { path, label } of huntRuleFiles(pack)) {
      sources.push({ file: path, label, text: readBounded(path, MAX_RULE_FILE_BYTES), pack: true });
    }
  }
  for (const path of input.sigmaPaths) {
    for (const file of sigmaRuleFiles(path)) {
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
    const pack = packIocs(advisory);
    iocs.sha256.push(...pack.sha256);
    iocs.ips.push(...pack.ips);
    iocs.paths.push(...pack.paths);
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
