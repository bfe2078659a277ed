import type { TransformationName } from './ast.js';

/**
 * Transformations over byte strings (one JS char per byte, latin1), as ModSecurity works on bytes. Each is linear
 * in its input.
 */
export type Transform = (s: string) => string;

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** `%XX` → byte, `+` → space; invalid escapes are kept as they are (ModSecurity urlDecode, non-strict). */
export function urlDecode(s: string): string {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && i + 2 < s.length) {
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        out += String.fromCharCode(h * 16 + l);
        i += 2;
        continue;
      }
    }
    out += c === 0x2b ? ' ' : s[i];
  }
  return out;
}

/** urlDecode plus Microsoft `%uXXXX`: full-width ASCII (U+FF01–FF5E) maps to ASCII, otherwise the low byte. */
export function urlDecodeUni(s: string): string {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const n1 = s.charCodeAt(i + 1);
      if ((n1 === 0x75 || n1 === 0x55) && i + 5 < s.length) {
        const d = [2, 3, 4, 5].map((k) => hexVal(s.charCodeAt(i + k)));
        if (d.every((x) => x >= 0)) {
          const hi = d[0]! * 16 + d[1]!;
          let lo = d[2]! * 16 + d[3]!;
          if (hi === 0xff && lo >= 0x01 && lo <= 0x5e) lo += 0x20;
          out += String.fromCharCode(lo);
          i += 5;
          continue;
        }
      }
      if (i + 2 < s.length) {
        const h = hexVal(n1);
        const l = hexVal(s.charCodeAt(i + 2));
        if (h >= 0 && l >= 0) {
          out += String.fromCharCode(h * 16 + l);
          i += 2;
          continue;
        }
      }
    }
    out += c === 0x2b ? ' ' : s[i];
  }
  return out;
}

const NAMED_ENTITIES: Record<string, string> = { quot: '"', amp: '&', lt: '<', gt: '>', nbsp: '\xa0' };

/** `&#DDD;`, `&#xHH;`, `&quot; &amp; &lt; &gt; &nbsp;` (semicolon optional), numeric values keep their low byte. */
export function htmlEntityDecode(s: string): string {
  if (s.indexOf('&') < 0) return s;
  return s.replace(/&(#[xX][0-9a-fA-F]{1,8}|#[0-9]{1,10}|quot|amp|lt|gt|nbsp);?/g, (_m, body: string) => {
    if (body[0] === '#') {
      const v =
        body[1] === 'x' || body[1] === 'X'
          ? Number.parseInt(body.slice(2), 16)
          : Number.parseInt(body.slice(1), 10);
      return String.fromCharCode(v & 0xff);
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? '';
  });
}

const WS = /[ \t\n\r\f\v\xa0]+/g;
/** Whitespace that compressWhitespace would change: any whitespace but a space, or two in a row. */
const WS_CHANGES = /[\t\n\r\f\v\xa0]| [ \t\n\r\f\v\xa0]/;
const UPPER = /[A-Z]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: checking for non-ASCII
const NON_ASCII = /[^\x00-\x7f]/;
const UPPER_RUNS = /[A-Z]+/g;

/**
 * ASCII lowercase (C `tolower`, as ModSecurity): bytes ≥ 0x80 are kept. String.prototype.toLowerCase is only used
 * on all-ASCII strings, where it is the same and much faster than a replace.
 */
export function lowercase(s: string): string {
  if (!UPPER.test(s)) return s;
  if (!NON_ASCII.test(s)) return s.toLowerCase();
  return s.replace(UPPER_RUNS, (m) => m.toLowerCase());
}

export function compressWhitespace(s: string): string {
  return WS_CHANGES.test(s) ? s.replace(WS, ' ') : s;
}

export function normalizePath(s: string, win = false): string {
  if (win && s.indexOf('\\') >= 0) s = s.replace(/\\/g, '/');
  if (s.length === 0) return s;
  // Nothing to normalise: no empty, `.` or `..` segment (every such segment needs `//`, `/.` or a leading `.`).
  if (s.indexOf('//') < 0 && s.indexOf('/.') < 0 && s.charCodeAt(0) !== 46) return s;
  return normalizeSegments(s);
}

/** The full algorithm behind normalizePath: drop empty and `.` segments, resolve `..`, keep a trailing slash. */
export function normalizeSegments(s: string): string {
  if (s.length === 0) return s;
  const absolute = s[0] === '/';
  const trailing = s.length > 1 && (s.endsWith('/') || s.endsWith('/.') || s.endsWith('/..'));
  const out: string[] = [];
  for (const seg of s.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
      continue;
    }
    out.push(seg);
  }
  let r = (absolute ? '/' : '') + out.join('/');
  if (trailing && !r.endsWith('/')) r += '/';
  return r;
}

export const TRANSFORMS: Record<Exclude<TransformationName, 'none'>, Transform> = {
  lowercase,
  urlDecode,
  urlDecodeUni,
  htmlEntityDecode,
  compressWhitespace,
  removeWhitespace: (s) => s.replace(WS, ''),
  removeNulls: (s) => (s.indexOf('\0') < 0 ? s : s.replace(/\0/g, '')),
  base64Decode: (s) => Buffer.from(s, 'base64').toString('latin1'),
  normalizePath: (s) => normalizePath(s),
  normalizePathWin: (s) => normalizePath(s, true),
  trim: (s) => s.replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, ''),
};

/** Effective list → one function (identity when empty). */
export function composeTransforms(names: readonly TransformationName[]): Transform {
  const fns: Transform[] = [];
  for (const n of names) if (n !== 'none') fns.push(TRANSFORMS[n]);
  if (fns.length === 0) return (s) => s;
  if (fns.length === 1) return fns[0]!;
  return (s) => {
    for (const f of fns) s = f(s);
    return s;
  };
}
