/**
 * A literal every match of a regular expression must contain, for the prefilter. Deliberately conservative: only
 * top-level concatenations are read (any top-level `|` gives null), groups and classes are skipped, and a
 * character followed by a quantifier that allows zero repetitions is dropped. The result is a run of literal-safe
 * characters (see pattern.ts) that any matched text contains, case-insensitively.
 */
import { isLiteralSafe, MIN_LITERAL } from './pattern.js';

/** Index just past the class starting at `i` (which is `[`), or -1. */
function skipClass(src: string, i: number): number {
  let j = i + 1;
  if (src[j] === '^') j++;
  if (src[j] === ']') j++; // a leading `]` is literal
  while (j < src.length) {
    const c = src[j]!;
    if (c === '\\') j += 2;
    else if (c === '[' && src[j + 1] === ':') {
      const end = src.indexOf(':]', j + 2);
      if (end < 0) return -1;
      j = end + 2;
    } else if (c === ']') return j + 1;
    else j++;
  }
  return -1;
}

/** Index just past the group starting at `i` (which is `(`), or -1. */
function skipGroup(src: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < src.length) {
    const c = src[j]!;
    if (c === '\\') {
      j += 2;
      continue;
    }
    if (c === '[') {
      j = skipClass(src, j);
      if (j < 0) return -1;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  return -1;
}

/** The longest required literal, lower-cased, or null. */
export function regexLiteral(src: string): string | null {
  const all = regexLiterals(src);
  return all ? (all[0] ?? null) : null;
}

/** Every required literal run (each occurs in any match), lower-cased, longest first; null when unknown. */
export function regexLiterals(src: string): string[] | null {
  const pieces: string[] = [];
  let run = '';
  /** The previous atom was a literal character that is the last character of `run`. */
  let lastInRun = false;
  const flush = () => {
    if (run) pieces.push(run);
    run = '';
    lastInRun = false;
  };
  const literal = (c: string) => {
    if (isLiteralSafe(c)) {
      run += c;
      lastInRun = true;
    } else {
      flush();
    }
  };
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    switch (c) {
      case '|':
        return null;
      case ')':
        return null;
      case '\\': {
        const n = src[i + 1];
        if (n === undefined) return null;
        if (n === 'Q' || (n >= '0' && n <= '9')) return null; // quoted text, octal escapes: give up
        if (/[A-Za-z0-9]/.test(n)) {
          flush();
          if ((n === 'p' || n === 'P' || n === 'x') && src[i + 2] === '{') {
            const end = src.indexOf('}', i + 2);
            if (end < 0) return null;
            i = end + 1;
          } else if (n === 'x') {
            i += 4;
          } else if (n === 'p' || n === 'P') {
            i += 3;
          } else {
            i += 2;
          }
        } else {
          literal(n);
          i += 2;
        }
        continue;
      }
      case '[': {
        flush();
        const end = skipClass(src, i);
        if (end < 0) return null;
        i = end;
        continue;
      }
      case '(': {
        flush();
        const end = skipGroup(src, i);
        if (end < 0) return null;
        i = end;
        continue;
      }
      case '*':
      case '?':
        if (lastInRun) run = run.slice(0, -1);
        flush();
        i++;
        continue;
      case '+':
        flush();
        i++;
        continue;
      case '{': {
        // `{n}`, `{n,}`, `{n,m}` with n ≥ 1 keep the character (it occurs at least once); `{0…}` drops it. Any other
        // `{` is conservatively a break that also drops the previous character.
        const m = /^\{(\d+)(,\d*)?\}/.exec(src.slice(i, i + 32));
        if (lastInRun && (!m || Number(m[1]) === 0)) run = run.slice(0, -1);
        flush();
        i += m ? m[0].length : 1;
        continue;
      }
      case '.':
      case '^':
      case '$':
        flush();
        i++;
        continue;
      default:
        literal(c);
        i++;
    }
  }
  flush();
  return pieces
    .filter((p) => p.length >= MIN_LITERAL)
    .map((p) => p.toLowerCase())
    .sort((a, b) => b.length - a.length);
}
