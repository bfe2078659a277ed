/**
 * Sigma value patterns: wildcards `*` and `?` with `\` escapes, `|windash` classes, and a linear-time matcher over
 * the resulting segments (no regular expression, no backtracking: each `*`-separated segment is located once,
 * leftmost, which is exact for glob patterns). Also derives the prefilter literal of a pattern.
 */
import { ANY, DASH, DASH_CHARS, STAR, type Token } from './model.js';

/**
 * Resolves escapes and wildcards as the specification says: `\*` `\?` `\\` are the plain characters, a backslash
 * before anything else is a plain backslash, unescaped `*` and `?` are wildcards. With `windash`, each of the
 * dash characters becomes a class matching any of them.
 */
export function parseWildcards(text: string, windash: boolean): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      const next = text[i + 1];
      if (next === '*' || next === '?' || next === '\\') {
        out.push(next);
        i++;
      } else {
        out.push('\\');
      }
    } else if (c === '*') {
      if (out[out.length - 1] !== STAR) out.push(STAR);
    } else if (c === '?') {
      out.push(ANY);
    } else if (windash && DASH_CHARS.includes(c)) {
      out.push(DASH);
    } else {
      out.push(c);
    }
  }
  return out;
}

/** Plain text as tokens (no wildcard interpretation), e.g. a base64-encoded value. */
export function literalTokens(text: string): Token[] {
  return Array.from({ length: text.length }, (_, i) => text[i]!);
}

/** True when the tokens contain a wildcard or class. */
export function hasWildcards(tokens: readonly Token[]): boolean {
  return tokens.some((t) => typeof t !== 'string');
}

export function wrap(tokens: Token[], mode: 'equals' | 'contains' | 'startswith' | 'endswith'): Token[] {
  const out = tokens.slice();
  if ((mode === 'contains' || mode === 'endswith') && out[0] !== STAR) out.unshift(STAR);
  if ((mode === 'contains' || mode === 'startswith') && out[out.length - 1] !== STAR) out.push(STAR);
  return out;
}

/**
 * Characters folded one by one: U+0130 and U+212A are the only non-ASCII characters whose lower case contains
 * ASCII, so they keep their form; capital and final sigma both fold to σ because String#toLowerCase picks the
 * final form by context, which would make a folded pattern piece differ from the same text folded in a value.
 */
const ODD_FOLD = /[\u0130\u212a\u03a3\u03c2]/;

/**
 * Case fold used for case-insensitive comparison; equal to lower-casing except for the characters above. It never
 * maps a non-ASCII character to ASCII, so a folded match of an ASCII literal implies an ASCII case-insensitive
 * match in the original text (the prefilter relies on it), and it folds every character independently of its
 * neighbours, so pieces of a pattern fold like the whole.
 */
export function fold(s: string): string {
  if (!ODD_FOLD.test(s)) return s.toLowerCase();
  let out = '';
  for (const c of s) {
    if (c === '\u0130' || c === '\u212a') out += c;
    else if (c === '\u03a3' || c === '\u03c2') out += '\u03c3';
    else out += c.toLowerCase();
  }
  return out;
}

/** One `*`-free piece of a pattern: a plain string (fast path) or atoms with `?` / dash classes. */
export interface Segment {
  lit: string | null;
  atoms: (string | number)[];
  len: number;
}

export interface Glob {
  segs: Segment[];
  /** The pattern contains a `*`. */
  star: boolean;
  lead: boolean;
  trail: boolean;
}

function segment(atoms: (string | number)[]): Segment {
  const plain = atoms.every((a) => typeof a === 'string');
  return { lit: plain ? atoms.join('') : null, atoms, len: atoms.length };
}

/**
 * Builds the matcher of a token list. `mapRun` transforms each run of literal characters (normalisation and case
 * folding) the same way the compared value is transformed.
 */
export function compileGlob(tokens: readonly Token[], mapRun: (s: string) => string): Glob {
  const segs: Segment[] = [];
  let atoms: (string | number)[] = [];
  let run = '';
  const flush = () => {
    if (run) {
      const mapped = mapRun(run);
      for (let i = 0; i < mapped.length; i++) atoms.push(mapped[i]!);
      run = '';
    }
  };
  let star = false;
  for (const t of tokens) {
    if (typeof t === 'string') {
      run += t;
      continue;
    }
    flush();
    if (t === STAR) {
      star = true;
      if (atoms.length) segs.push(segment(atoms));
      atoms = [];
    } else {
      atoms.push(t);
    }
  }
  flush();
  if (atoms.length || !star) segs.push(segment(atoms));
  return { segs, star, lead: tokens[0] === STAR, trail: tokens[tokens.length - 1] === STAR };
}

function atomsAt(seg: Segment, s: string, pos: number): boolean {
  const atoms = seg.atoms;
  for (let i = 0; i < atoms.length; i++) {
    const a = atoms[i]!;
    const c = s[pos + i]!;
    if (typeof a === 'string') {
      if (a !== c) return false;
    } else if (a === DASH && !DASH_CHARS.includes(c)) {
      return false;
    }
  }
  return true;
}

function matchAt(seg: Segment, s: string, pos: number): boolean {
  if (pos < 0 || pos + seg.len > s.length) return false;
  return seg.lit !== null ? s.startsWith(seg.lit, pos) : atomsAt(seg, s, pos);
}

function find(seg: Segment, s: string, from: number, to: number): number {
  if (seg.lit !== null) {
    const i = s.indexOf(seg.lit, from);
    return i >= 0 && i + seg.len <= to ? i : -1;
  }
  for (let i = from; i + seg.len <= to; i++) if (atomsAt(seg, s, i)) return i;
  return -1;
}

/** Whole-value glob match (the value is transformed like the pattern's literal runs). */
export function globMatch(g: Glob, s: string): boolean {
  const segs = g.segs;
  if (!g.star) {
    const only = segs[0]!;
    return s.length === only.len && matchAt(only, s, 0);
  }
  let pos = 0;
  let end = s.length;
  let first = 0;
  let last = segs.length;
  if (!g.lead && last > 0) {
    const seg = segs[0]!;
    if (!matchAt(seg, s, 0)) return false;
    pos = seg.len;
    first = 1;
  }
  if (!g.trail && last > first) {
    const seg = segs[last - 1]!;
    const start = end - seg.len;
    if (start < pos || !matchAt(seg, s, start)) return false;
    end = start;
    last--;
  }
  for (let i = first; i < last; i++) {
    const seg = segs[i]!;
    const at = find(seg, s, pos, end);
    if (at < 0) return false;
    pos = at + seg.len;
  }
  return true;
}

/**
 * Characters a literal may hold: printable ASCII that every supported log writes unchanged. Excluded are space,
 * comma and quotes (CSV quoting), `+` and `%` (IIS and URL encoding), `?` (Bulwark joins stem and query with it),
 * `&` `<` `>` (XML entities), control and non-ASCII characters (case folding and encodings).
 */
export function isLiteralSafe(c: string): boolean {
  const code = c.charCodeAt(0);
  if (code < 0x21 || code > 0x7e) return false;
  return !`"',+%?&<>`.includes(c);
}

/** Pieces shorter than this are useless as a prefilter. */
export const MIN_LITERAL = 3;

/** The longest run of literal-safe characters of `text`, lower-cased, or null when shorter than MIN_LITERAL. */
export function longestSafeRun(text: string): string | null {
  let best = '';
  let run = '';
  for (let i = 0; i <= text.length; i++) {
    const c = text[i];
    if (c !== undefined && isLiteralSafe(c)) {
      run += c;
      continue;
    }
    if (run.length > best.length) best = run;
    run = '';
  }
  return best.length >= MIN_LITERAL ? best.toLowerCase() : null;
}

/** The prefilter literal of a pattern: the longest literal-safe piece between wildcards and classes. */
/** Every usable literal run of a pattern (all of them must occur in a matching value), longest first. */
export function patternLiterals(tokens: readonly Token[]): string[] {
  const out: string[] = [];
  let run = '';
  const flush = () => {
    const lit = longestSafeRun(run);
    if (lit !== null) out.push(lit);
    run = '';
  };
  for (const t of tokens) {
    if (typeof t === 'string') run += t;
    else flush();
  }
  flush();
  return out.sort((a, b) => b.length - a.length);
}

export function patternLiteral(tokens: readonly Token[]): string | null {
  let best: string | null = null;
  let run = '';
  const flush = () => {
    const lit = longestSafeRun(run);
    if (lit !== null && (best === null || lit.length > best.length)) best = lit;
    run = '';
  };
  for (const t of tokens) {
    if (typeof t === 'string') run += t;
    else flush();
  }
  flush();
  return best;
}
