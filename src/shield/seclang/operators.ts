import { isIP } from 'node:net';
import { RE2JS } from 're2js';
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

interface Cidr {
  v6: boolean;
  bytes: Uint8Array;
  bits: number;
}

function parseIpBytes(ip: string): { v6: boolean; bytes: Uint8Array } | null {
  let s = ip.trim();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  if (mapped) s = mapped[1]!;
  const kind = isIP(s);
  if (kind === 4) return { v6: false, bytes: Uint8Array.from(s.split('.').map(Number)) };
  if (kind !== 6) return null;
  // Expand IPv6 (may end in an embedded IPv4).
  let head = s;
  let tailV4: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    tailV4 = v4[1]!.split('.').map(Number);
    head = `${s.slice(0, -v4[1]!.length)}0:0`;
  }
  const [l, r] = head.includes('::') ? head.split('::') : [head, undefined];
  const left = l ? l.split(':') : [];
  const right = r === undefined ? [] : r ? r.split(':') : [];
  const missing = 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(r === undefined ? 0 : missing).fill('0'), ...right];
  if (groups.length !== 8) return null;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    bytes[i * 2] = v >> 8;
    bytes[i * 2 + 1] = v & 0xff;
  });
  if (tailV4.length === 4) bytes.set(tailV4, 12);
  return { v6: true, bytes };
}

function parseCidr(entry: string): Cidr | null {
  const [ip, bitsStr, ...rest] = entry.split('/');
  if (ip === undefined || rest.length > 0) return null;
  const p = parseIpBytes(ip);
  if (!p) return null;
  const max = p.v6 ? 128 : 32;
  if (bitsStr !== undefined && !/^\d{1,3}$/.test(bitsStr)) return null;
  const bits = bitsStr === undefined ? max : Number(bitsStr);
  if (bits > max) return null;
  return { ...p, bits };
}

function inCidr(c: Cidr, a: { v6: boolean; bytes: Uint8Array }): boolean {
  if (c.v6 !== a.v6) return false;
  let bits = c.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((c.bytes[i]! & mask) !== (a.bytes[i]! & mask)) return false;
  }
  return true;
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
        const a = parseIpBytes(v);
        if (!a) return null;
        return cidrs.some((c) => inCidr(c, a)) ? [v] : null;
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
