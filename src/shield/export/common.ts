/**
 * Shared analysis for the non-SecLang exporters (nginx, IIS URL Rewrite, HAProxy): a SecLang rule (with its chain)
 * becomes a conjunction of conditions, each an OR over inputs of one regular expression, or a reason why the
 * target cannot express it. The target modules only map inputs and transformations and print.
 *
 * What every such target shares:
 * - operators: @rx → the regex; @contains/@beginsWith/@endsWith/@streq → an escaped literal regex
 *   (`lit`, `^lit`, `lit$`, `^lit$`); @pm → `(?:w1|w2|…)` matched case-insensitively (as @pm is);
 *   @unconditionalMatch → always true. @within, @ipMatch, @eq/@ge/@gt/@le/@lt, @noMatch → skipped.
 * - negation (`!@op`) is kept, except on a header/cookie that may be absent: ModSecurity does not evaluate a
 *   missing variable at all, while these targets test an empty string (so `!~` would fire) → skipped.
 * - t:lowercase (last in the pipeline, pattern without upper-case literals) → a case-insensitive match;
 *   t:none is a no-op. Other transformations are target-specific (see each module); with `lossy: true` the ones a
 *   target cannot express are dropped and listed in `notes` (the exported rule then misses encoded evasions),
 *   otherwise the rule is skipped.
 * - `&COUNT`, `!EXCLUSION` and regex selectors are skipped; rules with effective action `pass` enforce nothing and
 *   are skipped; rules removed by SecRuleRemoveById or in a file with SecRuleEngine DetectionOnly/Off are skipped.
 */
import type {
  ChainedRuleAst,
  RuleAst,
  SecLangAst,
  TransformationName,
  VariableRef,
} from '../seclang/index.js';

export type ExportFormat = 'modsecurity' | 'nginx' | 'iis' | 'haproxy';

export interface SkippedRule {
  id: number;
  reason: string;
}

export interface ExportNote {
  id: number;
  note: string;
}

export interface ExportResult {
  text: string;
  /** Rules that are not in `text`, each with why. */
  skipped: SkippedRule[];
  /** Rules that are in `text` but differ from the source in a documented way (lossy mode, input differences). */
  notes: ExportNote[];
}

export interface IisRuleSpec {
  name: string;
  stopProcessing: boolean;
  matchUrl: string;
  conditions: { input: string; pattern: string; ignoreCase: boolean; negate: boolean }[];
  action: { type: 'AbortRequest' } | { type: 'CustomResponse'; statusCode: number };
}

export interface ExportOptions {
  /** Drop transformations the target cannot express (the export then misses encoded evasions) instead of skipping. */
  lossy?: boolean;
  /**
   * IIS only: rules to emit verbatim instead of a translation, by SecLang rule id (the source rule is itself a
   * translation of these). Default: EOMT_IIS_EQUIVALENTS (Microsoft's EOMT rules for ids 4210550/4210551).
   * Pass `{}` to always translate.
   */
  iisEquivalents?: Record<number, IisRuleSpec>;
}

/** One input of a condition: the SecLang variable (a target maps it to its own input). */
export interface Condition {
  variables: VariableRef[];
  /** Regex source in the RE2/PCRE common subset. */
  pattern: string;
  caseInsensitive: boolean;
  negated: boolean;
  /** Transformations left for the target to express (in order; `none` and the final `lowercase` removed). */
  transformations: TransformationName[];
  /** @unconditionalMatch: the condition always holds. */
  always: boolean;
}

export interface Analysed {
  rule: RuleAst;
  conditions: Condition[];
  notes: string[];
}

export interface TargetCaps {
  /** Target name for reasons. */
  name: string;
  /** Transformations the target can express itself (besides lowercase). */
  transformations: ReadonlySet<TransformationName>;
  /** Map a variable to the target input, or say why not. */
  input(v: VariableRef): string | { reason: string };
  /** A regex construct the target's regex dialect lacks, or undefined. */
  regexProblem(pattern: string): string | undefined;
}

export function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, (c) => `\\${c}`);
}

/** Upper-case letters outside escape sequences (`\S`, `\W`, `\D`, `\B`, `\Q`… are not literals). */
export function hasUpperLiteral(pattern: string): boolean {
  return /[A-Z]/.test(pattern.replace(/\\./g, ''));
}

export function varName(v: VariableRef): string {
  return `${v.excluded ? '!' : ''}${v.count ? '&' : ''}${v.name}${v.selector !== undefined ? `:${v.selector}` : ''}`;
}

function chainLinks(rule: RuleAst): ChainedRuleAst[] {
  const links: ChainedRuleAst[] = [];
  for (let r: ChainedRuleAst | undefined = rule; r; r = r.chain) links.push(r);
  return links;
}

const MAY_BE_ABSENT = new Set(['REQUEST_HEADERS', 'REQUEST_COOKIES', 'ARGS', 'ARGS_GET', 'ARGS_POST', 'TX']);

function analyseLink(
  link: ChainedRuleAst,
  caps: TargetCaps,
  lossy: boolean,
  notes: string[],
): Condition | { reason: string } {
  for (const v of link.variables) {
    if (v.count) return { reason: `&${v.name} (count) cannot be expressed in ${caps.name}` };
    if (v.excluded) return { reason: `exclusion ${varName(v)} cannot be expressed in ${caps.name}` };
    if (v.selectorIsRegex)
      return { reason: `regex selector ${varName(v)} cannot be expressed in ${caps.name}` };
    const m = caps.input(v);
    if (typeof m !== 'string') return m;
  }
  const op = link.operator;
  let pattern: string;
  let ci = false;
  let always = false;
  switch (op.name) {
    case 'rx':
      pattern = op.argument;
      break;
    case 'contains':
      pattern = escapeRegex(op.argument);
      break;
    case 'beginsWith':
      pattern = `^${escapeRegex(op.argument)}`;
      break;
    case 'endsWith':
      pattern = `${escapeRegex(op.argument)}$`;
      break;
    case 'streq':
      pattern = `^${escapeRegex(op.argument)}$`;
      break;
    case 'pm': {
      const words = op.argument.split(/\s+/).filter((w) => w !== '');
      if (words.length === 0) return { reason: '@pm without phrases' };
      pattern = `(?:${words.map(escapeRegex).join('|')})`;
      ci = true;
      break;
    }
    case 'unconditionalMatch':
      pattern = '';
      always = true;
      break;
    default:
      return { reason: `operator @${op.name} cannot be expressed in ${caps.name}` };
  }
  if (op.negated && link.variables.some((v) => MAY_BE_ABSENT.has(v.name))) {
    return {
      reason: `negated operator on ${link.variables.map(varName).join('|')}: ModSecurity skips an absent variable, ${caps.name} would test an empty value`,
    };
  }
  if (always && op.negated) return { reason: '!@unconditionalMatch never matches' };
  if (!always) {
    const problem = caps.regexProblem(pattern);
    if (problem) return { reason: `pattern ${JSON.stringify(pattern)}: ${problem}` };
  }
  // Transformations: strip none; the target keeps what it can express; lowercase must come last.
  const ts = link.transformations.filter((t) => t !== 'none');
  const kept: TransformationName[] = [];
  let sawLower = false;
  for (const t of ts) {
    if (t === 'lowercase') {
      sawLower = true;
      continue;
    }
    if (caps.transformations.has(t)) {
      if (sawLower) return { reason: `t:${t} after t:lowercase cannot be expressed in ${caps.name}` };
      kept.push(t);
      continue;
    }
    if (!lossy) {
      return {
        reason: `t:${t} has no equivalent in ${caps.name} (export with lossy to drop it and miss encoded evasions)`,
      };
    }
    notes.push(`t:${t} dropped (${caps.name} cannot express it): evasions it normalises are not caught`);
  }
  if (sawLower) {
    const literal = op.name === 'rx' ? pattern : op.argument;
    if (hasUpperLiteral(literal)) {
      return {
        reason: `t:lowercase with an upper-case literal in the pattern (never matches in ModSecurity; a case-insensitive ${caps.name} match would)`,
      };
    }
    ci = true;
  }
  return {
    variables: link.variables,
    pattern,
    caseInsensitive: ci,
    negated: op.negated,
    transformations: kept,
    always,
  };
}

/** Removed ids over all files (SecRuleRemoveById applies to the whole ruleset). */
function removedBy(asts: readonly SecLangAst[]): (id: number) => boolean {
  const ranges = asts.flatMap((a) => a.removedIds);
  return (id) => ranges.some(([lo, hi]) => id >= lo && id <= hi);
}

/** Analyse every rule for a target: the expressible ones with their conditions, the others with reasons. */
export function analyse(
  asts: readonly SecLangAst[],
  caps: TargetCaps,
  opts: ExportOptions,
): { rules: Analysed[]; skipped: SkippedRule[] } {
  const removed = removedBy(asts);
  const rules: Analysed[] = [];
  const skipped: SkippedRule[] = [];
  for (const ast of asts) {
    for (const rule of ast.rules) {
      if (removed(rule.id)) {
        skipped.push({ id: rule.id, reason: 'removed by SecRuleRemoveById' });
        continue;
      }
      if (ast.engine && ast.engine !== 'On') {
        skipped.push({
          id: rule.id,
          reason: `SecRuleEngine ${ast.engine} in ${ast.file}: the rule never disrupts`,
        });
        continue;
      }
      if (rule.effectiveAction === 'pass') {
        skipped.push({ id: rule.id, reason: `action pass: nothing to enforce in ${caps.name}` });
        continue;
      }
      const notes: string[] = [];
      const conditions: Condition[] = [];
      let reason: string | undefined;
      for (const link of chainLinks(rule)) {
        const c = analyseLink(link, caps, opts.lossy === true, notes);
        if ('reason' in c) {
          reason = c.reason;
          break;
        }
        conditions.push(c);
      }
      if (reason) skipped.push({ id: rule.id, reason });
      else rules.push({ rule, conditions, notes });
    }
  }
  return { rules, skipped };
}

/**
 * A comment-syntax target's file (nginx, HAProxy): the header, each expressible rule's text, then the rules that
 * could not be written with why. `ruleText` may still refuse a rule (a reason instead of text) or add notes.
 */
export function renderCommented(
  header: readonly string[],
  analysed: { rules: Analysed[]; skipped: SkippedRule[] },
  ruleText: (a: Analysed, notes: ExportNote[]) => string | { reason: string },
): ExportResult {
  const { rules, skipped } = analysed;
  const notes: ExportNote[] = [];
  const out = [...header];
  for (const a of rules) {
    const t = ruleText(a, notes);
    if (typeof t !== 'string') {
      skipped.push({ id: a.rule.id, reason: t.reason });
      continue;
    }
    for (const n of a.notes) notes.push({ id: a.rule.id, note: n });
    out.push('', t);
  }
  if (skipped.length > 0) {
    out.push('', '# Not exported:');
    for (const s of skipped) out.push(`#   ${s.id}: ${oneLine(s.reason)}`);
  }
  return { text: `${out.join('\n')}\n`, skipped, notes };
}

/** The HTTP reason phrase for common statuses (for targets that print one). */
export function reasonPhrase(status: number): string {
  const m: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    406: 'Not Acceptable',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    501: 'Not Implemented',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
  };
  return m[status] ?? 'Blocked';
}

/** One line, for comments: control characters removed. */
export function oneLine(s: string | undefined): string {
  let out = '';
  for (const ch of s ?? '') out += ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? ' ' : ch;
  return out.replace(/ {2,}/g, ' ').slice(0, 200);
}
