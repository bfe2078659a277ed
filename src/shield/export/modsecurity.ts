/**
 * ModSecurity export: canonical SecLang re-emitted from the AST, self-contained (no SecDefaultAction needed).
 *
 * Canonical form of a rule: `SecRule VARS "@op arg" "id,phase,<resolved disruptive>,status,t:none,t:…,log|nolog,
 * capture,msg,tag…,severity,chain"` — the disruptive action, status, log flag and transformations are the
 * *effective* ones (SecDefaultAction already applied), so the text means the same when loaded alone.
 * SecRuleEngine and SecRuleRemoveById of each file are kept. Everything the parser accepts is expressible.
 * Round trip: parseSecLangAst(export(parseSecLangAst(x))) ≡ parseSecLangAst(x) (compare with `canonicalRule`).
 *
 * Skipped: rule ids inside the CRS reservations (900,000–999,999 and 9,000,000–9,999,999) — they would clash
 * with the Core Rule Set; and values SecLang quoting cannot carry (an argument ending in a backslash, line breaks).
 */
import type { ChainedRuleAst, RuleAst, SecLangAst, VariableRef } from '../seclang/index.js';
import type { ExportResult, SkippedRule } from './common.js';
import { oneLine } from './common.js';

export const CRS_ID_RANGES: ReadonlyArray<readonly [number, number]> = [
  [900_000, 999_999],
  [9_000_000, 9_999_999],
];

export function inCrsRange(id: number): boolean {
  return CRS_ID_RANGES.some(([lo, hi]) => id >= lo && id <= hi);
}

class Unquotable extends Error {}

/** `"…"` with `\"` escapes, as the parser's splitArgs reads it. */
function dq(s: string): string {
  if (/[\r\n]/.test(s)) throw new Unquotable('contains a line break');
  if (s.endsWith('\\')) throw new Unquotable('ends with a backslash (SecLang would read \\" as a quote)');
  return `"${s.replace(/"/g, '\\"')}"`;
}

/** Action value `'…'` with `\'` escapes (then put inside the double-quoted action list). */
function sq(s: string): string {
  if (/[\r\n]/.test(s)) throw new Unquotable('contains a line break');
  if (s.endsWith('\\')) throw new Unquotable("ends with a backslash (SecLang would read \\' as a quote)");
  return `'${s.replace(/'/g, "\\'")}'`;
}

function variableText(v: VariableRef): string {
  let s = `${v.excluded ? '!' : ''}${v.count ? '&' : ''}${v.name}`;
  if (v.selector !== undefined) {
    if (v.selectorIsRegex) {
      if (v.selector.includes("'")) throw new Unquotable(`selector /${v.selector}/ contains a quote`);
      s += `:'/${v.selector}/'`;
    } else if (/[|\s'"]/.test(v.selector) || v.selector.startsWith('/')) {
      if (v.selector.includes("'")) throw new Unquotable(`selector ${v.selector} contains a quote`);
      s += `:'${v.selector}'`;
    } else {
      s += `:${v.selector}`;
    }
  }
  return s;
}

function variablesText(vs: VariableRef[]): string {
  const s = vs.map(variableText).join('|');
  return /[\s"]/.test(s) ? dq(s) : s;
}

function operatorText(r: ChainedRuleAst): string {
  const op = r.operator;
  if (/^\s/.test(op.argument)) throw new Unquotable('operator argument starts with white space');
  const a = op.argument === '' ? '' : ` ${op.argument}`;
  return dq(`${op.negated ? '!' : ''}@${op.name}${a}`);
}

function actionList(r: ChainedRuleAst, starter: RuleAst | undefined, ind: string): string {
  const parts: string[] = [];
  if (starter) {
    parts.push(
      `id:${starter.id}`,
      `phase:${starter.phase}`,
      starter.effectiveAction,
      `status:${starter.status}`,
    );
  }
  parts.push('t:none', ...r.transformations.map((t) => `t:${t}`));
  if (starter) parts.push(starter.log ? 'log' : 'nolog');
  if (r.actions.capture) parts.push('capture');
  if (starter) {
    const a = starter.actions;
    if (a.msg !== undefined) parts.push(`msg:${sq(a.msg)}`);
    for (const t of a.tags) parts.push(`tag:${sq(t)}`);
    if (a.severity !== undefined) parts.push(`severity:'${a.severity}'`);
  }
  if (r.chain) parts.push('chain');
  return `"${parts.map((p) => p.replace(/"/g, '\\"')).join(`,\\\n${ind}    `)}"`;
}

function ruleText(rule: RuleAst): string {
  const lines: string[] = [];
  let depth = 0;
  for (let r: ChainedRuleAst | undefined = rule; r; r = r.chain) {
    const ind = '    '.repeat(depth);
    lines.push(
      `${ind}SecRule ${variablesText(r.variables)} ${operatorText(r)} \\\n${ind}    ${actionList(r, depth === 0 ? rule : undefined, ind)}`,
    );
    depth++;
  }
  return lines.join('\n');
}

export interface ModsecOptions {
  /** Keep rules inside the CRS id ranges instead of skipping them (default false). */
  allowCrsIds?: boolean;
}

export function exportModsecurity(asts: readonly SecLangAst[], opts: ModsecOptions = {}): ExportResult {
  const out: string[] = [
    '# Exported by Bulwark (bulwark shield export --format modsecurity). Canonical SecLang.',
  ];
  const skipped: SkippedRule[] = [];
  for (const ast of asts) {
    out.push('', `# source: ${oneLine(ast.file)}`);
    if (ast.engine) out.push(`SecRuleEngine ${ast.engine}`);
    if (ast.removedIds.length > 0) {
      out.push(
        `SecRuleRemoveById ${ast.removedIds.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(' ')}`,
      );
    }
    for (const rule of ast.rules) {
      if (inCrsRange(rule.id) && !opts.allowCrsIds) {
        skipped.push({
          id: rule.id,
          reason: `id ${rule.id} is inside a CRS range (900000-999999, 9000000-9999999); renumber the rule`,
        });
        continue;
      }
      try {
        const text = ruleText(rule);
        out.push(
          '',
          `# ${oneLine(rule.actions.msg ?? `rule ${rule.id}`)} (${oneLine(rule.source.file)}:${rule.source.line})`,
          text,
        );
      } catch (e) {
        if (!(e instanceof Unquotable)) throw e;
        skipped.push({ id: rule.id, reason: `cannot be written as SecLang: a value ${e.message}` });
      }
    }
  }
  return { text: `${out.join('\n')}\n`, skipped, notes: [] };
}

/** The meaning of a rule, without source positions and as-written action details (for round-trip comparisons). */
export function canonicalRule(r: ChainedRuleAst): unknown {
  const base = {
    variables: r.variables,
    operator: r.operator,
    transformations: r.transformations,
    capture: r.actions.capture,
    chain: r.chain ? canonicalRule(r.chain) : undefined,
  };
  if (!('id' in r)) return base;
  const s = r as RuleAst;
  return {
    ...base,
    id: s.id,
    phase: s.phase,
    effectiveAction: s.effectiveAction,
    status: s.status,
    log: s.log,
    msg: s.actions.msg,
    tags: s.actions.tags,
    severity: s.actions.severity,
  };
}

export function canonicalAst(a: SecLangAst): unknown {
  return { engine: a.engine, removedIds: a.removedIds, rules: a.rules.map(canonicalRule) };
}
