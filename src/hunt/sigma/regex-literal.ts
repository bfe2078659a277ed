/**
 * Literals every match of a regular expression must contain, for the prefilter.
 *
 * The literals are read from re2js's own parse, not from a second reading of the pattern text: re2js builds a
 * prefilter tree (AND/OR of exact strings) from its simplified syntax tree and refuses, before matching, any
 * text that lacks it. The exact strings at the top level of that tree are therefore required by the engine that
 * runs the rule, by construction. A hand-written reader of the pattern text disagreed with re2js on corners such
 * as `abc\.(?i)?` (re2js applies the `?` to the `.`, the reader required `abc.`) — issue 11 item 8.
 *
 * re2js gives no literal for case-folded text. For a case-insensitive rule (the `i` flag), the literals are read
 * from the same pattern compiled without the flag: a case-insensitive match equals a case-sensitive match of some
 * text that differs only in the case of its characters, and the scanner compares literals ignoring ASCII case. The
 * two letters whose Unicode case-fold orbit leaves ASCII (`k` ~ U+212A KELVIN SIGN, `s` ~ U+017F LONG S) end a
 * literal there, since the scanner would not see `K` as `k`. Inline `(?i)` groups stay folded: no literal.
 */
import { RE2JS } from 're2js';
import { isLiteralSafe, MIN_LITERAL } from './pattern.js';

/** re2js's prefilter node (internal: `RE2JS.re2Input.prefilter`; `Prefilter.Type` NONE 0, EXACT 1, AND 2, OR 3). */
interface Re2Prefilter {
  type: number;
  str: string;
  subs: Re2Prefilter[];
}

const EXACT = 1;
const AND = 2;

/** ASCII letters that Unicode simple case folding also equates with a non-ASCII character. */
const FOLDS_BEYOND_ASCII = new Set(['k', 's']);

function prefilterOf(re: RE2JS): Re2Prefilter | null | undefined {
  const inner = (re as unknown as { re2Input?: { prefilter?: Re2Prefilter | null } }).re2Input;
  // undefined: this re2js no longer exposes its prefilter (then no literal at all, never a wrong one).
  return inner && 'prefilter' in inner ? (inner.prefilter ?? null) : undefined;
}

/** The exact strings every match contains: the top-level EXACT node, or the EXACT children of a top-level AND. */
function requiredStrings(pf: Re2Prefilter | null | undefined): string[] {
  if (!pf) return [];
  if (pf.type === EXACT) return [pf.str];
  if (pf.type === AND) return pf.subs.filter((s) => s.type === EXACT).map((s) => s.str);
  return [];
}

/** Runs of literal-safe characters (any piece of a required string is itself required). */
function safeRuns(text: string, folded: boolean): string[] {
  const out: string[] = [];
  let run = '';
  for (const c of text) {
    const usable = isLiteralSafe(c) && !(folded && FOLDS_BEYOND_ASCII.has(c.toLowerCase()));
    if (usable) run += c;
    else {
      if (run) out.push(run);
      run = '';
    }
  }
  if (run) out.push(run);
  return out;
}

/** The longest required literal, lower-cased, or null. */
export function regexLiteral(src: string, flags = 0): string | null {
  const all = regexLiterals(src, flags);
  return all ? (all[0] ?? null) : null;
}

/**
 * Every required literal run (each occurs in any text the regular expression finds a match in), lower-cased,
 * longest first; null when there is none or the pattern does not compile. `flags` are RE2JS compile flags.
 */
export function regexLiterals(src: string, flags = 0): string[] | null {
  const folded = (flags & RE2JS.CASE_INSENSITIVE) !== 0;
  let re: RE2JS;
  try {
    re = RE2JS.compile(src, flags & ~RE2JS.CASE_INSENSITIVE);
  } catch {
    return null;
  }
  const pieces = requiredStrings(prefilterOf(re))
    .flatMap((s) => safeRuns(s, folded))
    .filter((p) => p.length >= MIN_LITERAL)
    .map((p) => p.toLowerCase());
  const unique = [...new Set(pieces)].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
  return unique.length ? unique : null;
}
