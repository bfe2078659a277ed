import { RE2JS } from 're2js';
import { inCidr, parseCidr, parseIp } from '../../core/index.js';
import type { OperatorRef } from './ast.js';
import { lowercase } from './transforms.js';

/** Result of an operator: null = no match; otherwise captures (TX:0..9) when the operator produces them. */
export type OperatorFn = (value: string, wantCapture: boolean) => string[] | null;

const NO_CAPTURE: string[] = [];

/** Operator arguments are text; request values are byte strings (latin1). Convert the argument to its UTF-8 bytes. */
export function toBytes(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: checking for non-ASCII
  return /^[\x00-\x7f]*$/.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}

/** ModSecurity `atoi`: leading whitespace, optional sign, digits; anything else → 0. */
export function atoi(s: string): number {
  const m = /^[ \t\n\r\f\v]*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  const n = Number.parseInt(m[1]!, 10);
  return Number.isFinite(n) ? n : 0;
}

/**
 * A substring every match of `pattern` must contain: its leading run of plain characters (after an optional `^`),
 * when the pattern has no alternation or inline flags; null when none of at least 3 characters exists. Checking it
 * with `includes` first lets most values skip the regular expression engine entirely.
 */
export function requiredPrefix(pattern: string): string | null {
  if (pattern.includes('|') || pattern.includes('(?')) return null;
  const m = /^\^?([A-Za-z0-9 _\-=/:;,~#@!%&'"<>]+)/.exec(pattern);
  if (!m) return null;
  let run = m[1]!;
  // A quantifier that allows zero repetitions makes the run's last character optional.
  const next = pattern[(m.index ?? 0) + m[0].length];
  if (next === '*' || next === '?' || next === '{') run = run.slice(0, -1);
  return run.length >= 3 ? toBytes(run) : null;
}

/** Compile a regular expression on RE2 (linear time). Throws an Error whose message says why RE2 refuses it. */
export function compileRegex(pattern: string, extraFlags = 0): RE2JS {
  // ModSecurity v3 compiles @rx with PCRE DOTALL | MULTILINE.
  return RE2JS.compile(toBytes(pattern === '' ? '.*' : pattern), RE2JS.DOTALL | RE2JS.MULTILINE | extraFlags);
}

/**
 * Build the matcher for an operator once. Throws Error with a reason for arguments it cannot accept (the parser
 * turns that into a SecLangError naming the rule).
 */
export function compileOperator(op: OperatorRef): OperatorFn {
  const arg = op.argument;
  if (op.name !== 'rx' && arg.includes('%{')) {
    throw new Error(`macro expansion (%{…}) in @${op.name} arguments is not supported`);
  }
  const lit = toBytes(arg);
  let fn: OperatorFn;
  switch (op.name) {
    case 'rx': {
      let re: RE2JS;
      try {
        re = compileRegex(arg);
      } catch (e) {
        throw new Error(
          `regular expression ${JSON.stringify(arg)} is refused by the linear-time engine (RE2): ${(e as Error).message} — rewrite it without look-around, back-references, atomic groups or possessive quantifiers`,
        );
      }
      const groups = Math.min(re.groupCount(), 9);
      const prefix = requiredPrefix(arg);
      fn = (v, want) => {
        if (prefix !== null && !v.includes(prefix)) return null;
        if (!want) return re.test(v) ? NO_CAPTURE : null;
        const m = re.matcher(v);
        if (!m.find()) return null;
        const caps: string[] = [];
        for (let g = 0; g <= groups; g++) caps.push(m.group(g) ?? '');
        return caps;
      };
      break;
    }
    case 'contains':
      fn = (v) => (v.includes(lit) ? [lit] : null);
      break;
    case 'beginsWith':
      fn = (v) => (v.startsWith(lit) ? [lit] : null);
      break;
    case 'endsWith':
      fn = (v) => (v.endsWith(lit) ? [lit] : null);
      break;
    case 'streq':
      fn = (v) => (v === lit ? [lit] : null);
      break;
    case 'within':
      fn = (v) => (lit.includes(v) ? [v] : null);
      break;
    case 'pm': {
      const phrases = [
        ...new Set(
          lit
            .toLowerCase()
            .split(/\s+/)
            .filter((p) => p.length > 0),
        ),
      ];
      if (phrases.length === 0) throw new Error('@pm needs at least one phrase');
      fn = (v) => {
        const lv = lowercase(v);
        for (const p of phrases) if (lv.includes(p)) return [p];
        return null;
      };
      break;
    }
    case 'ipMatch': {
      const cidrs = arg
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
        .map((s) => {
          const c = parseCidr(s);
          if (!c) throw new Error(`@ipMatch: ${JSON.stringify(s)} is not an IPv4/IPv6 address or CIDR range`);
          return c;
        });
      if (cidrs.length === 0) throw new Error('@ipMatch needs at least one address or range');
      fn = (v) => {
        const a = parseIp(v);
        if (!a) return null;
        return cidrs.some((c) => inCidr(c, a.bytes)) ? [v] : null;
      };
      break;
    }
    case 'eq':
    case 'ge':
    case 'gt':
    case 'le':
    case 'lt': {
      const n = atoi(arg);
      const cmp = {
        eq: (x: number) => x === n,
        ge: (x: number) => x >= n,
        gt: (x: number) => x > n,
        le: (x: number) => x <= n,
        lt: (x: number) => x < n,
      }[op.name];
      fn = (v) => (cmp(atoi(v)) ? [v] : null);
      break;
    }
    case 'unconditionalMatch':
      fn = (v) => [v];
      break;
    case 'noMatch':
      fn = () => null;
      break;
  }
  if (!op.negated) return fn;
  return (v) => (fn(v, false) === null ? NO_CAPTURE : null);
}
