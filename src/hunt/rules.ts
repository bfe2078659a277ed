/**
 * The rule set of one hunt: Sigma rules from advisory packs and from the user, compiled per log type, plus the
 * IOC attacker-address rule. Built from plain data (RuleConfig) so every worker thread builds the same set.
 */
import { buildIocSet, type IocSet } from './files.js';
import type { ScanRule } from './logscan.js';
import { logTypes } from './logtypes/registry.js';
import type { UnsupportedRuleNote } from './report/model.js';
import { compileRule, loadSigmaRule } from './sigma/index.js';
import type { LogRecord, LogType } from './types.js';

export interface RuleSource {
  file: string;
  /** Where the rule came from, for findings: `advisory proxylogon-2021-03 hunt/x.yml` or `sigma <path>`. */
  label: string;
  text: string;
  /** Rules of an advisory pack (they may carry a `bulwark:` block with a mode). */
  pack: boolean;
}

export interface RuleConfig {
  sources: RuleSource[];
  /** Also run the rules written for the original 2021-03-02 conditions. */
  strict: boolean;
  iocs: { sha256: string[]; ips: string[]; paths: string[] };
}

export interface RuleSet {
  rulesFor(type: LogType): readonly ScanRule[];
  /** Rules compiled for at least one log type. */
  loaded: number;
  unsupported: UnsupportedRuleNote[];
  iocs: IocSet;
}

export function buildRuleSet(config: RuleConfig): RuleSet {
  const byType = new Map<LogType, ScanRule[]>(logTypes().map((d) => [d.type, []]));
  const unsupported: UnsupportedRuleNote[] = [];
  const loadedIds = new Set<string>();
  for (const source of config.sources) {
    const rule = loadSigmaRule(source.text, source.file);
    if (rule.kind === 'unsupported') {
      unsupported.push({ rule: rule.title, file: source.file, reason: rule.reason });
      continue;
    }
    if (rule.mode === 'strict-2021-03-02' && !config.strict) continue;
    for (const type of rule.types) {
      const compiled = compileRule(rule, type);
      if (compiled.kind === 'unsupported') {
        unsupported.push({ rule: `${rule.title} [${type}]`, file: source.file, reason: compiled.reason });
        continue;
      }
      loadedIds.add(`${source.file}\u0000${rule.id}`);
      byType.get(type)?.push({
        id: compiled.id,
        title: compiled.title,
        source: source.label,
        cve: compiled.cve,
        stage: compiled.stage,
        severity: compiled.level,
        match: (r) => compiled.match(r),
        literals: compiled.literals,
        clauses: compiled.clauses,
        ...(compiled.author ? { author: compiled.author } : {}),
      });
    }
  }
  const iocs = buildIocSet([config.iocs]);
  if (iocs.ips.size) {
    // Log types whose records name the client address (their descriptors' clientField).
    for (const d of logTypes()) if (d.clientField) byType.get(d.type)!.push(ipRule(d.clientField, iocs.ips));
  }
  return { rulesFor: (type) => byType.get(type) ?? [], loaded: loadedIds.size, unsupported, iocs };
}

function ipRule(field: string, ips: ReadonlySet<string>): ScanRule {
  return {
    id: 'ioc-attacker-ip',
    title: 'Request from an address in the IOC list',
    source: 'ioc',
    cve: null,
    // An address alone proves contact, not exploitation: other rules on the same requests say more.
    stage: 'probe',
    severity: 'high',
    match: (r: LogRecord) => {
      const ip = r.fields[field];
      return ip && ips.has(ip) ? { [field]: ip } : undefined;
    },
    literals: [...ips],
    clauses: [],
  };
}
