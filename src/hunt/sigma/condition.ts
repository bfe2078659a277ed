/**
 * The condition grammar of the Sigma specification, nothing more: search identifiers, `and`, `or`, `not`,
 * parentheses, `1 of <pattern>`, `all of <pattern>`, `1 of them`, `all of them`. Precedence (least to most
 * binding): `or`, `and`, `not`, `x of`, parentheses. `x of` is expanded into `or`/`and` over the identifiers it
 * names. Everything else (aggregations `| count()`, `near`, `any of`, `2 of`) is refused with a reason.
 */
import type { Condition } from './model.js';

export type ConditionResult = { ok: true; condition: Condition } | { ok: false; reason: string };

class ConditionError extends Error {}

const MAX_TOKENS = 10_000;
const MAX_DEPTH = 200;

function tokenize(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      out.push(c);
      i++;
    } else {
      let j = i;
      while (j < text.length && !/[\s()]/.test(text[j]!)) j++;
      out.push(text.slice(i, j));
      i = j;
    }
    if (out.length > MAX_TOKENS) throw new ConditionError(`condition is longer than ${MAX_TOKENS} tokens`);
  }
  return out;
}

function patternMatcher(pattern: string): (name: string) => boolean {
  const parts = pattern.split('*');
  return (name) => {
    if (parts.length === 1) return name === pattern;
    const first = parts[0]!;
    const last = parts[parts.length - 1]!;
    if (!name.startsWith(first) || name.length < first.length + last.length || !name.endsWith(last))
      return false;
    let pos = first.length;
    const end = name.length - last.length;
    for (let i = 1; i < parts.length - 1; i++) {
      const at = name.indexOf(parts[i]!, pos);
      if (at < 0 || at + parts[i]!.length > end) return false;
      pos = at + parts[i]!.length;
    }
    return true;
  };
}

const KEYWORDS = new Set(['and', 'or', 'not', 'of', 'them']);

/** Parses one condition string against the rule's search identifiers (in declaration order). */
export function parseCondition(text: string, names: readonly string[]): ConditionResult {
  try {
    if (text.includes('|')) {
      throw new ConditionError(
        `condition '${text}' uses an aggregation ('| count()' and the like), which Sigma 2 replaced by correlation rules; Bulwark evaluates single events`,
      );
    }
    const tokens = tokenize(text);
    if (tokens.length === 0) throw new ConditionError('condition is empty');
    let pos = 0;
    const peek = () => tokens[pos];
    const lower = (t: string | undefined) => t?.toLowerCase();
    const known = new Set(names);

    const expect = (what: string) => {
      const t = tokens[pos];
      if (t === undefined) throw new ConditionError(`condition '${text}' ends where ${what} was expected`);
      return t;
    };

    const parseOr = (depth: number): Condition => {
      if (depth > MAX_DEPTH) throw new ConditionError(`condition nests deeper than ${MAX_DEPTH} levels`);
      const items = [parseAnd(depth)];
      while (lower(peek()) === 'or') {
        pos++;
        items.push(parseAnd(depth));
      }
      return items.length === 1 ? items[0]! : { kind: 'or', items };
    };
    const parseAnd = (depth: number): Condition => {
      const items = [parseNot(depth)];
      while (lower(peek()) === 'and') {
        pos++;
        items.push(parseNot(depth));
      }
      return items.length === 1 ? items[0]! : { kind: 'and', items };
    };
    const parseNot = (depth: number): Condition => {
      if (lower(peek()) === 'not') {
        pos++;
        if (depth > MAX_DEPTH) throw new ConditionError(`condition nests deeper than ${MAX_DEPTH} levels`);
        return { kind: 'not', item: parseNot(depth + 1) };
      }
      return parsePrimary(depth);
    };
    const parsePrimary = (depth: number): Condition => {
      const t = expect('a search identifier');
      if (t === '(') {
        pos++;
        const inner = parseOr(depth + 1);
        if (expect("')'") !== ')')
          throw new ConditionError(`condition '${text}': expected ')' at '${tokens[pos]}'`);
        pos++;
        return inner;
      }
      if (t === ')') throw new ConditionError(`condition '${text}': unexpected ')'`);
      const next = lower(tokens[pos + 1]);
      if (next === 'of') {
        const quant = t.toLowerCase();
        if (quant !== '1' && quant !== 'all') {
          throw new ConditionError(
            `condition '${text}' uses '${t} of', which the Sigma specification does not define (only '1 of' and 'all of')`,
          );
        }
        pos += 2;
        const target = expect('a search identifier pattern after "of"');
        if (
          target === '(' ||
          target === ')' ||
          (KEYWORDS.has(target.toLowerCase()) && target.toLowerCase() !== 'them')
        ) {
          throw new ConditionError(
            `condition '${text}': expected a search identifier pattern after '${t} of'`,
          );
        }
        pos++;
        const matched =
          target.toLowerCase() === 'them'
            ? names.filter((n) => !n.startsWith('_'))
            : names.filter(patternMatcher(target));
        if (matched.length === 0) {
          throw new ConditionError(`condition '${text}': '${t} of ${target}' matches no search identifier`);
        }
        const refs: Condition[] = matched.map((name) => ({ kind: 'ref', name }));
        if (refs.length === 1) return refs[0]!;
        return { kind: quant === 'all' ? 'and' : 'or', items: refs };
      }
      const word = t.toLowerCase();
      if (word === 'near') {
        throw new ConditionError(
          `condition '${text}' uses 'near' (Sigma 1 temporal proximity), which is not supported`,
        );
      }
      if (KEYWORDS.has(word) && !known.has(t)) {
        throw new ConditionError(`condition '${text}': unexpected '${t}'`);
      }
      if (t.includes('*')) {
        throw new ConditionError(
          `condition '${text}': a pattern such as '${t}' needs '1 of' or 'all of' before it`,
        );
      }
      if (!known.has(t)) throw new ConditionError(`condition references unknown search identifier '${t}'`);
      pos++;
      return { kind: 'ref', name: t };
    };

    const condition = parseOr(0);
    if (pos < tokens.length) throw new ConditionError(`condition '${text}': unexpected '${tokens[pos]}'`);
    return { ok: true, condition };
  } catch (e) {
    if (e instanceof ConditionError) return { ok: false, reason: e.message };
    throw e;
  }
}
