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

/**
 * ModSecurity's t:normalizePath / t:normalizePathWin (libmodsecurity NormalisePath::normalize_path_inplace, the
 * same code as ModSecurity 2's msc_util.c): drop empty and `.` segments, resolve `..` (never above the root),
 * keep a trailing slash only when the input had one; with `win`, `\` is a separator too and becomes `/`.
 * Quirks kept on purpose (tested against libmodsecurity 3.0.9 in transforms-oracle.test.ts): a segment that merely
 * ends in `..` (`a..`) is treated as `..`; a relative path keeps the `..` it cannot resolve.
 */
export function normalizePath(s: string, win = false): string {
  if (s.length === 0) return s;
  // Nothing to normalise: no backslash (win), no empty, `.` or `..`-ending segment (each needs `//`, `/.`, `..` or a
  // leading `.`).
  if (
    (!win || s.indexOf('\\') < 0) &&
    s.indexOf('//') < 0 &&
    s.indexOf('/.') < 0 &&
    s.indexOf('..') < 0 &&
    s.charCodeAt(0) !== 46
  ) {
    return s;
  }
  return normalizeSegments(s, win);
}

const SLASH = 0x2f;
const DOT = 0x2e;

const BACKSLASH = 0x5c;

/**
 * The full algorithm behind normalizePath, a line-by-line port of the C. With `win`, a backslash is converted to `/`
 * only when the loop looks at it, as in the C: the last separator of a run of slashes is copied as it is, so
 * `//\\` normalises to `\\` (measured).
 */
export function normalizeSegments(s: string, win = false): string {
  const n = s.length;
  if (n === 0) return s;
  // One byte per char (latin1 byte string); `buf` is rewritten in place as the C does, `dst` trails `src`.
  const buf = new Array<number>(n);
  for (let i = 0; i < n; i++) buf[i] = s.charCodeAt(i);
  const end = n - 1;
  const isSep = (c: number | undefined) => c === SLASH || (win && c === BACKSLASH);
  const relative = !isSep(buf[0]);
  const trailing = isSep(buf[end]);
  let src = 0;
  let dst = 0;
  let ldst = 0;
  let hitroot = false;
  let done = false;
  while (!done && src <= end && dst <= end) {
    if (win) {
      if (buf[src] === BACKSLASH) buf[src] = SLASH;
      if (src < end && buf[src + 1] === BACKSLASH) buf[src + 1] = SLASH;
    }
    let skipCopy = false;
    let normalise = true;
    if (src === end) done = true;
    else if (buf[src + 1] !== SLASH) normalise = false; // not the end of a segment
    if (normalise) {
      if (src !== end && buf[src] === SLASH) {
        // an empty segment: the copy below skips repeated slashes
      } else if (buf[src] === DOT) {
        if (dst > 0 && buf[dst - 1] === DOT) {
          // a back-reference (the segment ends in "..")
          if (relative && (hitroot || dst - 2 <= 0)) {
            hitroot = true; // nothing to remove: copy the ".." as it is
          } else {
            dst -= 3;
            while (dst > 0 && buf[dst] !== SLASH) dst--;
            if (dst <= 0) {
              hitroot = true;
              dst = 0;
              if (!relative && src === end) dst++;
            }
            if (done) skipCopy = true;
            else src++;
          }
        } else if (dst === 0) {
          // a relative self-reference "./"
          if (done) skipCopy = true;
          else src++;
        } else if (buf[dst - 1] === SLASH) {
          // a self-reference "/./"
          if (done) skipCopy = true;
          else {
            dst--;
            src++;
          }
        }
      } else if (dst > 0) {
        hitroot = false;
      }
    }
    if (!skipCopy) {
      if (buf[src] === SLASH) {
        while (src < end && isSep(buf[src + 1])) src++;
        if (relative && dst === 0) {
          src++;
          ldst = dst;
          continue;
        }
      }
      buf[dst++] = buf[src++]!;
    }
    ldst = dst;
  }
  if (!trailing && dst > 0 && buf[dst - 1] === SLASH) ldst--;
  let out = '';
  for (let i = 0; i < ldst; i++) out += String.fromCharCode(buf[i]!);
  return out;
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
