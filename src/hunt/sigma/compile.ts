/**
 * Compiling a loaded rule for one log type: field names resolved through the mapping, value patterns folded and
 * turned into glob matchers once, the condition turned into closures, and the prefilter literals derived.
 *
 * Matching semantics (Sigma): strings compare case-insensitively unless `|cased`; a list of values is OR (AND with
 * `|all`); a map is AND; a list of maps is OR; keywords search the event text; `|re` is case-sensitive unless
 * `|re|i`. An absent field matches only `null` (and `|exists: false`).
 *
 * The prefilter contract: when `literals` is not null, every record the rule matches has a raw text that contains
 * one of the literals, compared ASCII case-insensitively. `match` never relies on the prefilter.
 */
import { inCidr, parseIp } from '../../core/index.js';
import { logTypeOf } from '../logtypes/registry.js';
import type { LogRecord, LogType, Severity, Stage } from '../types.js';
import { type FieldAccess, resolveField } from './fields.js';
import type {
  Condition,
  FieldTest,
  LoadedRule,
  RuleMode,
  Search,
  UnsupportedRule,
  ValueTest,
} from './model.js';
import { compileGlob, fold, type Glob, globMatch, patternLiteral, patternLiterals } from './pattern.js';
import { regexLiteral, regexLiterals } from './regex-literal.js';

export interface CompiledSigma {
  kind: 'compiled';
  id: string;
  title: string;
  level: Severity;
  cve: string | null;
  stage: Stage;
  mode: RuleMode;
  author: string | null;
  /** The rule file. */
  source: string;
  type: LogType;
  /** The fields the rule reads (log column names) with their values, or undefined when the record does not match. */
  match(record: LogRecord): Record<string, string> | undefined;
  /** Prefilter: any matched record's raw text contains one of these (lower-case ASCII), or null when unknown. */
  literals: string[] | null;
  /**
   * The full prefilter, in conjunctive form: a matched record's raw text contains one literal of EVERY clause.
   * `literals` is the rarest clause; scanners search for it and check the others on the hit line only.
   */
  clauses: string[][];
}

// ---------------------------------------------------------------------------------------------------------------
// Per-record value cache: each field is read, normalised and folded at most once per match call.

class State {
  gen = 0;
  record: LogRecord | undefined;
}

interface Source {
  /** The value as the log has it (W3C `-` as ''), undefined when absent. */
  raw(): string | undefined;
  /** After the field's normalisation. */
  norm(): string | undefined;
  /** Normalised and case-folded. */
  folded(): string | undefined;
  has(): boolean;
}

class FieldSource implements Source {
  private rawAt = -1;
  private normAt = -1;
  private foldAt = -1;
  private rawV: string | undefined;
  private normV: string | undefined;
  private foldV: string | undefined;
  constructor(
    private readonly st: State,
    readonly access: FieldAccess,
  ) {}
  raw(): string | undefined {
    if (this.rawAt !== this.st.gen) {
      this.rawV = this.access.get(this.st.record!.fields);
      this.rawAt = this.st.gen;
    }
    return this.rawV;
  }
  norm(): string | undefined {
    if (this.normAt !== this.st.gen) {
      const r = this.raw();
      const n = this.access.norm;
      this.normV = r === undefined || n === null ? r : n(r);
      this.normAt = this.st.gen;
    }
    return this.normV;
  }
  folded(): string | undefined {
    if (this.foldAt !== this.st.gen) {
      const n = this.norm();
      this.foldV = n === undefined ? undefined : fold(n);
      this.foldAt = this.st.gen;
    }
    return this.foldV;
  }
  has(): boolean {
    return this.access.has(this.st.record!.fields);
  }
}

const XML_ENTITY = /&(lt|gt|amp|quot|apos);/g;
const XML_CHARS: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/**
 * The text keywords search: the raw event, with the log's own quoting undone where it only touches characters the
 * prefilter never uses (CSV `""`, XML's five named entities).
 */
export function keywordText(type: LogType, raw: string): string {
  const keywords = logTypeOf(type)?.parse.keywords ?? 'raw';
  if (keywords === 'raw') return raw;
  if (keywords === 'xml') {
    return raw.includes('&') ? raw.replace(XML_ENTITY, (_, name: string) => XML_CHARS[name]!) : raw;
  }
  return raw.includes('""') ? raw.replaceAll('""', '"') : raw;
}

class KeywordSource implements Source {
  private at = -1;
  private textV = '';
  private foldAt = -1;
  private foldV = '';
  constructor(
    private readonly st: State,
    private readonly type: LogType,
  ) {}
  raw(): string {
    if (this.at !== this.st.gen) {
      this.textV = keywordText(this.type, this.st.record!.raw);
      this.at = this.st.gen;
    }
    return this.textV;
  }
  norm(): string {
    return this.raw();
  }
  folded(): string {
    if (this.foldAt !== this.st.gen) {
      this.foldV = fold(this.raw());
      this.foldAt = this.st.gen;
    }
    return this.foldV;
  }
  has(): boolean {
    return true;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Value tests.

type Pred = () => boolean;

const NUMBER = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

function compare(op: 'lt' | 'lte' | 'gt' | 'gte', a: number, b: number): boolean {
  switch (op) {
    case 'lt':
      return a < b;
    case 'lte':
      return a <= b;
    case 'gt':
      return a > b;
    case 'gte':
      return a >= b;
  }
}

function stringPred(
  test: Extract<ValueTest, { kind: 'string' }>,
  src: Source,
  norm: FieldAccess['norm'],
): Pred {
  const mapRun = (run: string) => {
    const n = norm === null ? run : norm(run);
    return test.cased ? n : fold(n);
  };
  const globs: Glob[][] = test.patterns.map((alts) => alts.map((tokens) => compileGlob(tokens, mapRun)));
  const { all, neq, orNull, cased } = test;
  const anyAlt = (alts: Glob[], v: string) => {
    for (const g of alts) if (globMatch(g, v)) return true;
    return false;
  };
  return () => {
    const v = cased ? src.norm() : src.folded();
    if (v === undefined) return orNull;
    if (orNull && v === '') return true;
    if (neq) {
      for (const alts of globs) if (anyAlt(alts, v)) return false;
      return true;
    }
    if (all) {
      for (const alts of globs) if (!anyAlt(alts, v)) return false;
      return true;
    }
    for (const alts of globs) if (anyAlt(alts, v)) return true;
    return false;
  };
}

function valuePred(
  test: ValueTest,
  src: Source,
  access: FieldAccess | null,
  ref: (name: string) => Source,
): Pred {
  switch (test.kind) {
    case 'string':
      return stringPred(test, src, access?.norm ?? null);
    case 'null':
      return () => {
        const v = src.raw();
        return v === undefined || v === '';
      };
    case 'exists':
      return () => src.has() === test.expected;
    case 're': {
      const { regexes, all, neq } = test;
      return () => {
        const v = src.raw();
        if (v === undefined) return false;
        let hit: boolean;
        if (all) {
          hit = true;
          for (const r of regexes) if (!r.re.test(v)) hit = false;
        } else {
          hit = false;
          for (const r of regexes) {
            if (r.re.test(v)) {
              hit = true;
              break;
            }
          }
        }
        return neq ? !hit : hit;
      };
    }
    case 'cidr': {
      const { ranges, all, neq } = test;
      return () => {
        const v = src.raw();
        if (v === undefined) return false;
        const ip = parseIp(v);
        let hit = false;
        if (ip)
          hit = all ? ranges.every((r) => inCidr(r, ip.bytes)) : ranges.some((r) => inCidr(r, ip.bytes));
        return neq ? !hit : hit;
      };
    }
    case 'compare': {
      const { op, numbers, all } = test;
      return () => {
        const v = src.raw();
        if (v === undefined || !NUMBER.test(v)) return false;
        const n = Number(v);
        return all ? numbers.every((b) => compare(op, n, b)) : numbers.some((b) => compare(op, n, b));
      };
    }
    case 'fieldref': {
      const refs = test.refs.map(ref);
      const { cased, all, neq } = test;
      const value = (s: Source) => (cased ? s.norm() : s.folded());
      return () => {
        const v = value(src);
        if (v === undefined) return false;
        let hit: boolean;
        if (all) hit = refs.every((r) => value(r) === v);
        else hit = refs.some((r) => value(r) === v);
        return neq ? !hit : hit;
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Prefilter literals.

type Lits = string[] | null;

/** Literals nearly every line of some log has (HTTP methods, status codes, …): the last choice for an AND. */
const COMMON = new Set([
  'get',
  'post',
  'put',
  'head',
  'options',
  'delete',
  'patch',
  'http',
  'https',
  'mozilla',
]);

/** Characters rare in web and Exchange logs: a literal holding one is found on few lines. */
const RARE = /[~#\]$'<>{}|^`!@\\]/g;

function rank(lit: string): number {
  if (COMMON.has(lit) || /^\d{1,4}$/.test(lit)) return 0;
  return lit.length + 8 * (lit.match(RARE)?.length ?? 0);
}

/**
 * AND: any one child's set is valid; take the one whose weakest literal is strongest (longest, common words
 * last), then the smallest set.
 */
function best(sets: Lits[]): Lits {
  let chosen: string[] | null = null;
  let chosenMin = -1;
  for (const s of sets) {
    if (s === null || s.length === 0) continue;
    const min = Math.min(...s.map(rank));
    if (min > chosenMin || (min === chosenMin && chosen !== null && s.length < chosen.length)) {
      chosen = s;
      chosenMin = min;
    }
  }
  return chosen;
}

/** OR: every child must contribute, else nothing is known. */
function union(sets: Lits[]): Lits {
  const out = new Set<string>();
  for (const s of sets) {
    if (s === null) return null;
    for (const x of s) out.add(x);
  }
  return out.size ? [...out].sort() : null;
}

/** Conjunctive normal form: every clause must have a literal in the text. [] = nothing known. */
type Cnf = string[][];

function cnfAnd(parts: Cnf[]): Cnf {
  const seen = new Set<string>();
  const out: Cnf = [];
  for (const clause of parts.flat()) {
    const key = [...clause].sort().join('\u0000');
    if (!seen.has(key)) {
      seen.add(key);
      out.push(clause);
    }
  }
  return out;
}

/** Distributing an OR over its parts' clauses yields at most this many clauses; past it, one clause is kept. */
const MAX_OR_CLAUSES = 16;

/**
 * OR: (A1 and A2) or (B1 and B2) = (A1 or B1) and (A1 or B2) and (A2 or B1) and (A2 or B2): every pairing of one
 * clause per part, united. Exact, and it lets the scanner reject a line that has a literal of one part's clause
 * but not of its other clauses (an ECP line has `/ecp/` but rarely `.js`). When the product would be large, one
 * clause is kept: the union of each part's best clause (exact too, but weaker).
 */
function cnfOr(parts: Cnf[]): Cnf {
  if (parts.some((p) => p.length === 0)) return []; // a part that can match any text: nothing is known
  let size = 1;
  for (const p of parts) size *= p.length;
  if (size > MAX_OR_CLAUSES) {
    const lits = union(parts.map((p) => best(p)));
    return lits ? [lits] : [];
  }
  let product: string[][] = [[]];
  for (const p of parts) product = product.flatMap((acc) => p.map((clause) => [...acc, ...clause]));
  const clauses = product.map((c) => [...new Set(c)].sort());
  // Absorption: a clause that holds every literal of another clause adds nothing.
  const kept = clauses.filter(
    (c, i) =>
      !clauses.some(
        (o, j) =>
          j !== i && o.length <= c.length && o.every((l) => c.includes(l)) && (o.length < c.length || j < i),
      ),
  );
  return cnfAnd([kept]);
}

function cnfOf(lits: Lits): Cnf {
  return lits?.length ? [lits] : [];
}

function one(lit: string | null): Lits {
  return lit === null ? null : [lit];
}

/** All clauses a field test implies: a single pattern contributes each of its literal pieces. */
function testClauses(test: ValueTest, verbatim: boolean): Cnf {
  if (verbatim && test.kind === 'string' && !test.neq && !test.orNull && test.patterns.length === 1) {
    const alts = test.patterns[0]!;
    if (alts.length === 1) return patternLiterals(alts[0]!).map((l) => [l]);
  }
  if (verbatim && test.kind === 're' && !test.neq && test.regexes.length === 1) {
    const only = test.regexes[0]!;
    const pieces = regexLiterals(only.source, only.re.flags());
    if (pieces?.length) return pieces.map((l) => [l]);
  }
  return cnfOf(testLiterals(test, verbatim));
}

function testLiterals(test: ValueTest, verbatim: boolean): Lits {
  if (!verbatim) return null;
  switch (test.kind) {
    case 'string': {
      if (test.neq || test.orNull) return null;
      const perValue = test.patterns.map((alts) => union(alts.map((tokens) => one(patternLiteral(tokens)))));
      return test.all ? best(perValue) : union(perValue);
    }
    case 're': {
      if (test.neq) return null;
      const perValue = test.regexes.map((r) => one(regexLiteral(r.source, r.re.flags())));
      return test.all ? best(perValue) : union(perValue);
    }
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------------------------

function unsupportedFor(rule: LoadedRule, type: LogType, reason: string): UnsupportedRule {
  return { kind: 'unsupported', id: rule.id, title: rule.title, file: rule.file, reason, type };
}

/** Compiles `rule` for records of `type`; unsupported when the log source does not apply or a field has no mapping. */
export function compileRule(rule: LoadedRule, type: LogType): CompiledSigma | UnsupportedRule {
  if (!rule.types.includes(type)) {
    return unsupportedFor(rule, type, `the rule's log source does not apply to ${type} logs`);
  }
  const st = new State();
  const sources = new Map<string, FieldSource>();
  const keyword = new KeywordSource(st, type);
  const columns: string[] = [];
  let missing: string | null = null;

  const fieldSource = (name: string, where: string): FieldSource | null => {
    let s = sources.get(name);
    if (!s) {
      const access = resolveField(rule.taxonomy, type, name);
      if (!access) {
        missing ??= `field '${name}' (in '${where}') has no mapping for ${type} logs`;
        return null;
      }
      s = new FieldSource(st, access);
      sources.set(name, s);
      for (const c of access.columns) if (!columns.includes(c)) columns.push(c);
    }
    return s;
  };

  const searchCnfs = new Map<string, Cnf>();
  const searchFns = new Map<string, Pred>();

  const compileSearch = (search: Search) => {
    const itemPreds: Pred[][] = [];
    const itemCnfs: Cnf[] = [];
    for (const item of search.items) {
      const preds: Pred[] = [];
      const cnfs: Cnf[] = [];
      for (const ft of item) {
        const p = compileFieldTest(ft, search.name, cnfs);
        if (p) preds.push(p);
      }
      itemPreds.push(preds);
      itemCnfs.push(cnfAnd(cnfs));
    }
    searchCnfs.set(search.name, itemCnfs.length === 1 ? itemCnfs[0]! : cnfOr(itemCnfs));
    let at = -1;
    let value = false;
    searchFns.set(search.name, () => {
      if (at === st.gen) return value;
      value = false;
      for (const preds of itemPreds) {
        let ok = true;
        for (const p of preds) {
          if (!p()) {
            ok = false;
            break;
          }
        }
        if (ok) {
          value = true;
          break;
        }
      }
      at = st.gen;
      return value;
    });
  };

  const compileFieldTest = (ft: FieldTest, searchName: string, cnfs: Cnf[]): Pred | null => {
    if (ft.field === null) {
      cnfs.push(testClauses(ft.test, true));
      return valuePred(ft.test, keyword, null, () => keyword);
    }
    const src = fieldSource(ft.field, `${searchName}: ${ft.key}`);
    if (!src) return null;
    const refs = new Map<string, FieldSource>();
    if (ft.test.kind === 'fieldref') {
      for (const r of ft.test.refs) {
        const rs = fieldSource(r, `${searchName}: ${ft.key}`);
        if (!rs) return null;
        refs.set(r, rs);
      }
    }
    cnfs.push(testClauses(ft.test, src.access.verbatim));
    return valuePred(ft.test, src, src.access, (name) => refs.get(name)!);
  };

  for (const s of rule.detection.searches) compileSearch(s);
  if (missing !== null) return unsupportedFor(rule, type, missing);

  const compileCondition = (c: Condition): { pred: Pred; cnf: Cnf } => {
    switch (c.kind) {
      case 'ref':
        return { pred: searchFns.get(c.name)!, cnf: searchCnfs.get(c.name) ?? [] };
      case 'not': {
        const inner = compileCondition(c.item).pred;
        return { pred: () => !inner(), cnf: [] };
      }
      case 'and': {
        const parts = c.items.map(compileCondition);
        const preds = parts.map((p) => p.pred);
        return {
          pred: () => {
            for (const p of preds) if (!p()) return false;
            return true;
          },
          cnf: cnfAnd(parts.map((p) => p.cnf)),
        };
      }
      case 'or': {
        const parts = c.items.map(compileCondition);
        const preds = parts.map((p) => p.pred);
        return {
          pred: () => {
            for (const p of preds) if (p()) return true;
            return false;
          },
          cnf: cnfOr(parts.map((p) => p.cnf)),
        };
      }
    }
  };
  const { pred, cnf } = compileCondition(rule.detection.condition);
  const lits = best(cnf);

  const match = (record: LogRecord): Record<string, string> | undefined => {
    st.record = record;
    st.gen++;
    try {
      if (!pred()) return undefined;
      const out: Record<string, string> = {};
      for (const c of columns) {
        const v = record.fields[c];
        if (v !== undefined) out[c] = v;
      }
      return out;
    } finally {
      st.record = undefined;
    }
  };

  return {
    kind: 'compiled',
    id: rule.id,
    title: rule.title,
    level: rule.level,
    cve: rule.cve,
    stage: rule.stage,
    mode: rule.mode,
    author: rule.author,
    source: rule.file,
    type,
    match,
    literals: lits,
    clauses: lits ? cnf : [],
  };
}
