import type { RulePhase } from '../types.js';
import {
  type ChainedRuleAst,
  COLLECTIONS,
  type DefaultAction,
  type Disruptive,
  type Engine,
  OPERATORS,
  type OperatorName,
  type OperatorRef,
  type RuleActions,
  type RuleAst,
  type SecLangAst,
  TRANSFORMATIONS,
  type TransformationName,
  VARIABLES,
  type VariableName,
  type VariableRef,
} from './ast.js';
import { SecLangError } from './errors.js';
import { compileOperator, compileRegex } from './operators.js';

/** Bounds: hostile input must not exhaust memory. */
export const MAX_FILE_CHARS = 8 * 1024 * 1024;
export const MAX_LINE_CHARS = 256 * 1024;

const SUPPORTED_DIRECTIVES = 'SecRule, SecRuleEngine, SecRuleRemoveById, SecDefaultAction';

interface LogicalLine {
  line: number;
  text: string;
}

/** Physical → logical lines: backslash-newline continuation, `#` comments and blank lines dropped. */
export function logicalLines(text: string, file: string): LogicalLine[] {
  if (text.length > MAX_FILE_CHARS) {
    throw new SecLangError(file, 1, '', `file is larger than ${MAX_FILE_CHARS} characters; split it`);
  }
  const phys = text.split(/\r?\n|\r/);
  const out: LogicalLine[] = [];
  let i = 0;
  while (i < phys.length) {
    const start = i + 1;
    let acc = phys[i]!;
    i++;
    while (acc.endsWith('\\') && i < phys.length) {
      acc = acc.slice(0, -1) + phys[i]!;
      i++;
      if (acc.length > MAX_LINE_CHARS) {
        throw new SecLangError(file, start, '', `logical line is longer than ${MAX_LINE_CHARS} characters`);
      }
    }
    if (acc.endsWith('\\')) acc = acc.slice(0, -1);
    if (acc.length > MAX_LINE_CHARS) {
      throw new SecLangError(file, start, '', `logical line is longer than ${MAX_LINE_CHARS} characters`);
    }
    const t = acc.trim();
    if (t === '' || t.startsWith('#')) continue;
    out.push({ line: start, text: t });
  }
  return out;
}

/** Split a directive line into arguments: whitespace separated, `"…"` or `'…'` quoted with `\"` (`\'`) escapes. */
export function splitArgs(s: string, fail: (reason: string) => never): string[] {
  const args: string[] = [];
  let i = 0;
  const n = s.length;
  while (i < n) {
    while (i < n && /\s/.test(s[i]!)) i++;
    if (i >= n) break;
    const q = s[i];
    if (q === '"' || q === "'") {
      i++;
      let buf = '';
      while (i < n && s[i] !== q) {
        if (s[i] === '\\' && s[i + 1] === q) {
          buf += q;
          i += 2;
        } else {
          buf += s[i];
          i++;
        }
      }
      if (i >= n) fail(`unterminated ${q === '"' ? 'double' : 'single'}-quoted argument; close it with ${q}`);
      i++;
      if (i < n && !/\s/.test(s[i]!)) fail('a quoted argument must be followed by whitespace or end of line');
      args.push(buf);
    } else {
      let j = i;
      while (j < n && !/\s/.test(s[j]!)) j++;
      args.push(s.slice(i, j));
      i = j;
    }
  }
  return args;
}

interface RawAction {
  name: string;
  value?: string;
}

/** `id:1,phase:1,msg:'a, b',t:none` → actions. */
export function splitActions(s: string, fail: (reason: string) => never): RawAction[] {
  const out: RawAction[] = [];
  let i = 0;
  const n = s.length;
  while (i < n) {
    while (i < n && /[\s,]/.test(s[i]!)) i++;
    if (i >= n) break;
    let j = i;
    while (j < n && s[j] !== ':' && s[j] !== ',') j++;
    const name = s.slice(i, j).trim();
    if (name === '') fail(`empty action name in ${JSON.stringify(s)}`);
    if (s[j] !== ':') {
      out.push({ name });
      i = j + 1;
      continue;
    }
    j++;
    while (j < n && /\s/.test(s[j]!)) j++;
    if (s[j] === "'") {
      j++;
      let buf = '';
      while (j < n && s[j] !== "'") {
        if (s[j] === '\\' && s[j + 1] === "'") {
          buf += "'";
          j += 2;
        } else {
          buf += s[j];
          j++;
        }
      }
      if (j >= n) fail(`unterminated quoted value of action ${name}; close it with '`);
      j++;
      while (j < n && /\s/.test(s[j]!)) j++;
      if (j < n && s[j] !== ',') fail(`unexpected text after the quoted value of action ${name}`);
      out.push({ name, value: buf });
      i = j + 1;
    } else {
      let k = j;
      while (k < n && s[k] !== ',') k++;
      out.push({ name, value: s.slice(j, k).trim() });
      i = k + 1;
    }
  }
  return out;
}

const VAR_SET = new Set<string>(VARIABLES);
const OP_SET = new Set<string>(OPERATORS);
const T_SET = new Set<string>(TRANSFORMATIONS);
const SEVERITIES = ['EMERGENCY', 'ALERT', 'CRITICAL', 'ERROR', 'WARNING', 'NOTICE', 'INFO', 'DEBUG'];
/** Accepted and ignored (metadata or logging knobs with no effect on the decision). */
const IGNORED_ACTIONS = new Set(['rev', 'ver', 'maturity', 'accuracy', 'auditlog', 'noauditlog', 'logdata']);

export function parseVariables(spec: string, fail: (reason: string) => never): VariableRef[] {
  const out: VariableRef[] = [];
  let i = 0;
  const n = spec.length;
  if (n === 0) fail('the rule has no variables');
  while (i < n) {
    let excluded = false;
    let count = false;
    if (spec[i] === '!') {
      excluded = true;
      i++;
    } else if (spec[i] === '&') {
      count = true;
      i++;
    }
    let j = i;
    while (j < n && /[A-Za-z0-9_]/.test(spec[j]!)) j++;
    const rawName = spec.slice(i, j);
    const name = rawName.toUpperCase();
    if (rawName === '') fail(`expected a variable name at ${JSON.stringify(spec.slice(i))}`);
    if (!VAR_SET.has(name)) fail(`variable ${rawName} is not supported (supported: ${VARIABLES.join(', ')})`);
    const v: VariableRef = { name: name as VariableName, selectorIsRegex: false, excluded, count };
    i = j;
    if (spec[i] === ':') {
      i++;
      let sel = '';
      const quoted = spec[i] === "'";
      if (quoted) i++;
      if (spec[i] === '/') {
        // regex selector: up to the next unescaped '/'
        let k = i + 1;
        while (k < n && spec[k] !== '/') k += spec[k] === '\\' ? 2 : 1;
        if (k >= n) fail(`unterminated regular-expression selector in ${JSON.stringify(spec)}`);
        sel = spec.slice(i + 1, k);
        v.selectorIsRegex = true;
        i = k + 1;
        if (quoted) {
          if (spec[i] !== "'") fail(`unterminated quoted selector in ${JSON.stringify(spec)}`);
          i++;
        }
        try {
          compileRegex(sel);
        } catch (e) {
          fail(`selector regex /${sel}/ is refused by the linear-time engine (RE2): ${(e as Error).message}`);
        }
      } else {
        let k = i;
        while (k < n && (quoted ? spec[k] !== "'" : spec[k] !== '|')) k++;
        if (quoted && k >= n) fail(`unterminated quoted selector in ${JSON.stringify(spec)}`);
        sel = spec.slice(i, k);
        i = quoted ? k + 1 : k;
      }
      if (sel === '') fail(`empty selector after ${rawName}:`);
      if (!COLLECTIONS.has(v.name)) fail(`${v.name} is a single value and takes no :selector`);
      v.selector = sel;
    }
    if (excluded && v.selector === undefined) {
      fail(`exclusion !${v.name} needs a selector (e.g. !${v.name}:name)`);
    }
    if (v.name === 'TX' && v.selector === undefined && !count) fail('TX needs a selector (TX:0 … TX:9)');
    out.push(v);
    if (i < n) {
      if (spec[i] !== '|') fail(`expected | between variables at ${JSON.stringify(spec.slice(i))}`);
      i++;
      if (i >= n) fail('trailing | in the variable list');
    }
  }
  if (out.every((v) => v.excluded)) fail('the variable list has only exclusions');
  return out;
}

export function parseOperator(spec: string, fail: (reason: string) => never): OperatorRef {
  let s = spec;
  let negated = false;
  if (s.startsWith('!')) {
    negated = true;
    s = s.slice(1);
  }
  if (!s.startsWith('@')) return { name: 'rx', argument: s, negated };
  const m = /^@([A-Za-z]+)(?:\s+|$)/.exec(s);
  const rawName = m ? m[1]! : s.slice(1).split(/\s/)[0]!;
  const name = OPERATORS.find((o) => o.toLowerCase() === rawName.toLowerCase());
  if (!m || !name || !OP_SET.has(name)) {
    fail(`operator @${rawName} is not supported (supported: ${OPERATORS.map((o) => `@${o}`).join(' ')})`);
  }
  return { name: name as OperatorName, argument: s.slice(m[0].length), negated };
}

interface ParsedActions extends RuleActions {
  hasMeta: string[];
}

function parseActions(spec: string, fail: (reason: string) => never): ParsedActions {
  const a: ParsedActions = { tags: [], capture: false, chain: false, transformations: [], hasMeta: [] };
  for (const { name: raw, value } of splitActions(spec, fail)) {
    const name = raw.toLowerCase();
    const need = (): string => {
      if (value === undefined || value === '') fail(`action ${raw} needs a value (${raw}:…)`);
      return value;
    };
    const disruptive = (d: Disruptive) => {
      if (a.disruptive && a.disruptive !== d)
        fail(`two disruptive actions (${a.disruptive}, ${d}); keep one`);
      a.disruptive = d;
      a.hasMeta.push(raw);
    };
    switch (name) {
      case 'id': {
        const v = need();
        if (!/^\d{1,10}$/.test(v) || Number(v) < 1 || Number(v) > 4294967295) {
          fail(`id:${v} is not a positive integer`);
        }
        a.id = Number(v);
        a.hasMeta.push(raw);
        break;
      }
      case 'phase': {
        const v = need().toLowerCase();
        if (v === '1') a.phase = 1;
        else if (v === '2' || v === 'request') a.phase = 2;
        else fail(`phase:${v} is not supported (supported: 1, 2)`);
        a.hasMeta.push(raw);
        break;
      }
      case 'deny':
      case 'drop':
      case 'pass':
      case 'block':
        disruptive(name);
        break;
      case 'log':
        a.log = true;
        break;
      case 'nolog':
        a.log = false;
        break;
      case 'status': {
        const v = need();
        if (!/^\d{3}$/.test(v) || Number(v) < 100) fail(`status:${v} is not an HTTP status code`);
        a.status = Number(v);
        a.hasMeta.push(raw);
        break;
      }
      case 'msg':
        a.msg = need();
        a.hasMeta.push(raw);
        break;
      case 'tag':
        a.tags.push(need());
        a.hasMeta.push(raw);
        break;
      case 'severity': {
        const v = need();
        const sev = /^\d$/.test(v) ? SEVERITIES[Number(v)] : SEVERITIES.find((x) => x === v.toUpperCase());
        if (!sev) fail(`severity:${v} is not one of 0-7 or ${SEVERITIES.join(', ')}`);
        a.severity = sev;
        a.hasMeta.push(raw);
        break;
      }
      case 'chain':
        a.chain = true;
        break;
      case 'capture':
        a.capture = true;
        break;
      case 't': {
        const v = need();
        const t =
          TRANSFORMATIONS.find((x) => x.toLowerCase() === v.toLowerCase()) ??
          (v.toLowerCase() === 'normalisepath' ? 'normalizePath' : undefined);
        if (!t || !T_SET.has(t)) {
          fail(`transformation t:${v} is not supported (supported: ${TRANSFORMATIONS.join(', ')})`);
        }
        a.transformations.push(t);
        break;
      }
      default:
        if (IGNORED_ACTIONS.has(name)) break;
        fail(
          `action ${raw} is not supported (supported: id, phase, deny, drop, pass, block, log, nolog, status, msg, tag, severity, chain, capture, t, ${[...IGNORED_ACTIONS].join(', ')})`,
        );
    }
  }
  return a;
}

function effectiveTransforms(
  own: TransformationName[],
  def: DefaultAction | undefined,
): TransformationName[] {
  const lastNone = own.lastIndexOf('none');
  if (lastNone >= 0) return own.slice(lastNone + 1);
  return [...(def?.transformations ?? []), ...own];
}

function parseIdList(args: string[], fail: (reason: string) => never): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  if (args.length === 0) fail('SecRuleRemoveById needs at least one id or range (e.g. 1000 2000-2999)');
  for (const arg of args) {
    for (const part of arg.split(/[\s,]+/).filter((p) => p !== '')) {
      const m = /^(\d{1,10})(?:-(\d{1,10}))?$/.exec(part);
      if (!m) fail(`SecRuleRemoveById: ${JSON.stringify(part)} is not an id or a range like 100-200`);
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (hi < lo) fail(`SecRuleRemoveById: range ${part} is reversed`);
      out.push([lo, hi]);
    }
  }
  return out;
}

/** Parse a SecLang file into its AST. Throws SecLangError for anything outside the supported subset. */
export function parseSecLangAst(text: string, file: string): SecLangAst {
  const ast: SecLangAst = { file, rules: [], removedIds: [], defaultActions: [] };
  const defaults = new Map<RulePhase, DefaultAction>();
  const ids = new Map<number, number>();
  let openChain: { tail: ChainedRuleAst; starter: RuleAst } | undefined;

  for (const { line, text: lt } of logicalLines(text, file)) {
    const directive = lt.split(/\s/, 1)[0]!;
    const fail = (reason: string): never => {
      throw new SecLangError(file, line, directive, reason);
    };
    const args = splitArgs(lt.slice(directive.length), fail);
    const dname = directive.toLowerCase();
    if (openChain && dname !== 'secrule') {
      fail(
        `${directive} follows a rule with "chain" (id ${openChain.starter.id}); the next directive must be the chained SecRule`,
      );
    }
    switch (dname) {
      case 'secruleengine': {
        const v = args[0]?.toLowerCase();
        const map: Record<string, Engine> = { on: 'On', off: 'Off', detectiononly: 'DetectionOnly' };
        if (args.length !== 1 || !v || !map[v]) fail('SecRuleEngine takes one of On, DetectionOnly, Off');
        ast.engine = map[v!]!;
        break;
      }
      case 'secruleremovebyid':
        ast.removedIds.push(...parseIdList(args, fail));
        break;
      case 'secdefaultaction': {
        if (args.length !== 1)
          fail('SecDefaultAction takes one quoted action list, e.g. "phase:1,log,deny,status:403"');
        const a = parseActions(args[0]!, fail);
        if (a.id !== undefined || a.chain || a.msg !== undefined || a.tags.length > 0 || a.capture) {
          fail('SecDefaultAction may not contain id, chain, msg, tag or capture');
        }
        const phase = a.phase ?? 2;
        if (!a.disruptive || a.disruptive === 'block') {
          fail('SecDefaultAction needs a disruptive action: deny, drop or pass');
        }
        defaults.set(phase, {
          phase,
          disruptive: a.disruptive as 'deny' | 'drop' | 'pass',
          ...(a.status !== undefined ? { status: a.status } : {}),
          log: a.log ?? true,
          transformations: effectiveTransforms(a.transformations, undefined),
          source: { file, line },
        });
        ast.defaultActions.push(defaults.get(phase)!);
        break;
      }
      case 'secrule': {
        if (args.length < 2 || args.length > 3) {
          fail('SecRule takes VARIABLES "OPERATOR" ["ACTIONS"]');
        }
        const variables = parseVariables(args[0]!, fail);
        const operator = parseOperator(args[1]!, fail);
        const a = parseActions(args[2] ?? '', fail);
        if (openChain) {
          if (a.hasMeta.length > 0) {
            fail(
              `${a.hasMeta.join(', ')} may only appear on the chain starter (id ${openChain.starter.id}), not on a chained rule`,
            );
          }
          const def = defaults.get(openChain.starter.phase);
          const { hasMeta: _h, ...chainedActions } = a;
          const r: ChainedRuleAst = {
            variables,
            operator,
            transformations: effectiveTransforms(a.transformations, def),
            actions: chainedActions,
            source: { file, line },
          };
          check(r, openChain.starter.id, fail);
          openChain.tail.chain = r;
          openChain = a.chain ? { tail: r, starter: openChain.starter } : undefined;
          break;
        }
        if (a.id === undefined) fail('the rule has no id; add id:N to its actions (ids must be unique)');
        const id = a.id!;
        const prev = ids.get(id);
        if (prev !== undefined) fail(`duplicate rule id ${id} (first defined on line ${prev})`);
        ids.set(id, line);
        const phase = a.phase ?? 2;
        const def = defaults.get(phase);
        let eff: 'deny' | 'drop' | 'pass';
        if (a.disruptive === undefined || a.disruptive === 'block') eff = def?.disruptive ?? 'pass';
        else eff = a.disruptive;
        const { hasMeta: _m, ...actions } = a;
        const r: RuleAst = {
          id,
          phase,
          variables,
          operator,
          transformations: effectiveTransforms(a.transformations, def),
          actions,
          effectiveAction: eff,
          status: a.status ?? def?.status ?? 403,
          log: a.log ?? def?.log ?? true,
          source: { file, line },
        };
        check(r, id, fail);
        ast.rules.push(r);
        if (a.chain) openChain = { tail: r, starter: r };
        break;
      }
      default:
        fail(`${directive} is not supported (supported: ${SUPPORTED_DIRECTIVES})`);
    }
  }
  if (openChain) {
    throw new SecLangError(
      file,
      openChain.tail.source.line,
      'SecRule',
      `rule id ${openChain.starter.id} ends with "chain" but no chained SecRule follows`,
    );
  }
  return ast;
}

/** Compile the operator once now so bad patterns fail at load time with the rule id. */
function check(r: ChainedRuleAst, id: number, fail: (reason: string) => never): void {
  try {
    compileOperator(r.operator);
  } catch (e) {
    fail(`rule id ${id}: ${(e as Error).message}`);
  }
}
