/**
 * Loading one Sigma rule file: YAML (one document), required keys, log source → Bulwark log types, the detection
 * tree with every modifier checked, the condition parsed, regular expressions compiled once by the linear-time
 * engine. Anything Bulwark cannot evaluate gives an UnsupportedRule whose reason says exactly what and where;
 * nothing is skipped silently.
 *
 * Log sources (see LOGSOURCES below):
 * - `category: webserver` → iis-w3c, exchange-httpproxy (Sigma webserver field names);
 * - `product: windows, service: application` → windows-event-xml, windows-event-csv;
 * - `product: exchange, service: httpproxy | ecp-server | ecp-activity | oabgen | iis` → that one log type, with
 *   the log's own column names. This is Bulwark's own log source, used by the rules of advisory packs.
 *
 * Bulwark extension: an optional top-level `bulwark: { stage, cve, mode }` map (stage probe | exploitation |
 * post_exploitation, default exploitation; cve CVE-YYYY-NNNN, default from a `cve.YYYY-NNNN` tag; mode current |
 * strict-2021-03-02, default current).
 */

import { Type } from '@sinclair/typebox';
import { RE2JS } from 're2js';
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import {
  CVE_ID_PATTERN,
  dataValidator,
  LiteralUnion,
  parseCidr,
  StrictObject,
  withMessage,
} from '../../core/index.js';
import { typesForLogSource } from '../logtypes/registry.js';
import type { LogType, Severity } from '../types.js';
import { parseCondition } from './condition.js';
import type {
  CidrRange,
  CompiledRegex,
  Condition,
  Detection,
  FieldTest,
  LoadedRule,
  LogSource,
  RuleMode,
  Search,
  Taxonomy,
  Token,
  UnsupportedRule,
  ValueTest,
} from './model.js';
import { hasWildcards, literalTokens, parseWildcards, wrap } from './pattern.js';

/** Rule files larger than this are refused (the largest SigmaHQ rule is a few tens of KB). */
export const MAX_RULE_BYTES = 1024 * 1024;
const MAX_NODES = 100_000;
const MAX_DEPTH = 64;
const MAX_REGEX_LENGTH = 10_000;

export const SEVERITIES: readonly Severity[] = ['informational', 'low', 'medium', 'high', 'critical'];

/** The log sources Bulwark reads, for documentation: `category`/`product`/`service` → log types. */
export const LOGSOURCES: readonly { logsource: string; taxonomy: Taxonomy; types: readonly LogType[] }[] = [
  { logsource: 'category: webserver', taxonomy: 'webserver', types: ['iis-w3c', 'exchange-httpproxy'] },
  {
    logsource: 'product: windows, service: application',
    taxonomy: 'windows',
    types: ['windows-event-xml', 'windows-event-csv'],
  },
  { logsource: 'product: exchange, service: httpproxy', taxonomy: 'native', types: ['exchange-httpproxy'] },
  { logsource: 'product: exchange, service: ecp-server', taxonomy: 'native', types: ['exchange-ecp-server'] },
  {
    logsource: 'product: exchange, service: ecp-activity',
    taxonomy: 'native',
    types: ['exchange-ecp-activity'],
  },
  { logsource: 'product: exchange, service: oabgen', taxonomy: 'native', types: ['exchange-oabgen'] },
  { logsource: 'product: exchange, service: iis', taxonomy: 'native', types: ['iis-w3c'] },
];

const bulwarkBlock = dataValidator(
  StrictObject({
    stage: Type.Optional(LiteralUnion(['probe', 'exploitation', 'post_exploitation'])),
    cve: Type.Optional(
      withMessage(Type.String({ pattern: CVE_ID_PATTERN }), 'must look like CVE-2021-26855'),
    ),
    mode: Type.Optional(LiteralUnion(['current', 'strict-2021-03-02'])),
  }),
);

// ---------------------------------------------------------------------------------------------------------------
// YAML as a small value tree: numbers keep their source text (`0x17` stays `0x17`), maps keep key lines.

class YNum {
  constructor(
    readonly value: number,
    readonly text: string,
  ) {}
}

class YMap {
  readonly entries = new Map<string, YV>();
  readonly lines = new Map<string, number>();
}

type YV = string | boolean | null | YNum | YV[] | YMap;

class LoadError extends Error {}

function fail(message: string, line?: number): never {
  throw new LoadError(line === undefined ? message : `line ${line}: ${message}`);
}

function toTree(node: unknown, doc: Document, lc: LineCounter, budget: { n: number }, depth: number): YV {
  if (++budget.n > MAX_NODES) fail(`the YAML has more than ${MAX_NODES} nodes`);
  if (depth > MAX_DEPTH) fail(`the YAML nests deeper than ${MAX_DEPTH} levels`);
  if (node === null || node === undefined) return null;
  if (isAlias(node)) return toTree(node.resolve(doc), doc, lc, budget, depth + 1);
  if (isScalar(node)) {
    const v = node.value;
    if (typeof v === 'number' || typeof v === 'bigint') return new YNum(Number(v), node.source ?? String(v));
    if (typeof v === 'string' || typeof v === 'boolean' || v === null) return v;
    return String(v);
  }
  if (isSeq(node)) return node.items.map((item) => toTree(item, doc, lc, budget, depth + 1));
  if (isMap(node)) {
    const out = new YMap();
    for (const pair of node.items) {
      const key = pair.key;
      const line = isScalar(key) && key.range ? lc.linePos(key.range[0]).line : undefined;
      if (!isScalar(key) || key.value === null || typeof key.value === 'object') {
        fail('map keys must be plain strings', line);
      }
      const k = typeof key.value === 'number' ? (key.source ?? String(key.value)) : String(key.value);
      out.entries.set(k, toTree(pair.value, doc, lc, budget, depth + 1));
      if (line !== undefined) out.lines.set(k, line);
    }
    return out;
  }
  fail('unsupported YAML node');
}

function scalarText(v: YV): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof YNum) return v.text;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return undefined;
}

function describe(v: YV): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof YMap) return 'a map';
  if (v instanceof YNum) return `the number ${v.text}`;
  return typeof v === 'boolean' ? `the boolean ${v}` : `'${v}'`;
}

function toPlain(v: YV): unknown {
  if (v instanceof YNum) return v.value;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof YMap) return Object.fromEntries([...v.entries].map(([k, x]) => [k, toPlain(x)]));
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Modifiers and values.

const TIME_MODIFIERS = new Set(['minute', 'hour', 'day', 'week', 'month', 'year']);

function encodeBase64(text: string, utf16: 'le' | 'be' | 'bom' | null): Buffer {
  if (utf16 === null) return Buffer.from(text, 'utf8');
  const le = Buffer.from(text, 'utf16le');
  if (utf16 === 'le') return le;
  if (utf16 === 'bom') return Buffer.concat([Buffer.from([0xff, 0xfe]), le]);
  const be = Buffer.from(le);
  be.swap16();
  return be;
}

/** The three shifted encodings of `|base64offset`, as pySigma builds them. */
function base64Offsets(bytes: Buffer): string[] {
  const start = [0, 2, 3];
  const end = [0, -3, -2];
  const out: string[] = [];
  for (let i = 0; i < 3; i++) {
    const enc = Buffer.concat([Buffer.alloc(i, 0x20), bytes]).toString('base64');
    const e = end[(bytes.length + i) % 3]!;
    out.push(enc.slice(start[i]!, e === 0 ? undefined : e));
  }
  return out;
}

function regexFlags(i: boolean, m: boolean, s: boolean): number {
  return (i ? RE2JS.CASE_INSENSITIVE : 0) | (m ? RE2JS.MULTILINE : 0) | (s ? RE2JS.DOTALL : 0);
}

function compileRegex(source: string, flags: number, key: string, line: number | undefined): CompiledRegex {
  if (source.length > MAX_REGEX_LENGTH)
    fail(`'${key}': regular expression longer than ${MAX_REGEX_LENGTH}`, line);
  try {
    return { source, re: RE2JS.compile(source, flags) };
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    fail(
      `'${key}': regular expression '${source}' uses a feature the linear-time engine (RE2) does not have, or is invalid: ${detail}`,
      line,
    );
  }
}

function buildTest(
  key: string,
  field: string | null,
  mods: string[],
  values: YV[],
  line: number | undefined,
): ValueTest {
  let mode: 'equals' | 'contains' | 'startswith' | 'endswith' = field === null ? 'contains' : 'equals';
  let modeMod: string | null = null;
  let all = false;
  let cased = false;
  let windash = false;
  let neq = false;
  let re = false;
  let reI = false;
  let reM = false;
  let reS = false;
  let b64: 'plain' | 'offset' | null = null;
  let utf16: 'le' | 'be' | 'bom' | null = null;
  let utf16Mod = '';
  const typed: string[] = [];
  let cmp: 'lt' | 'lte' | 'gt' | 'gte' | null = null;
  for (const m of mods) {
    switch (m) {
      case 'contains':
      case 'startswith':
      case 'endswith':
        if (modeMod !== null && modeMod !== m)
          fail(`'${key}': modifiers |${modeMod} and |${m} cannot be combined`, line);
        mode = m;
        modeMod = m;
        break;
      case 'all':
        all = true;
        break;
      case 'cased':
        cased = true;
        break;
      case 'windash':
        windash = true;
        break;
      case 'neq':
        neq = true;
        break;
      case 're':
        re = true;
        typed.push(m);
        break;
      case 'i':
      case 'm':
      case 's':
        if (!re) fail(`'${key}': sub-modifier |${m} is only valid after |re`, line);
        if (m === 'i') reI = true;
        else if (m === 'm') reM = true;
        else reS = true;
        break;
      case 'base64':
      case 'base64offset':
        b64 = m === 'base64' ? 'plain' : 'offset';
        typed.push(m);
        break;
      case 'utf16le':
      case 'wide':
      case 'utf16be':
      case 'utf16':
        utf16 = m === 'utf16be' ? 'be' : m === 'utf16' ? 'bom' : 'le';
        utf16Mod = m;
        break;
      case 'cidr':
      case 'exists':
      case 'fieldref':
        typed.push(m);
        break;
      case 'lt':
      case 'lte':
      case 'gt':
      case 'gte':
        cmp = m;
        typed.push(m);
        break;
      case 'expand':
        fail(
          `'${key}': modifier |expand (placeholders such as %Servers%) is not supported: Bulwark has no placeholder values to expand`,
          line,
        );
        break;
      default:
        if (TIME_MODIFIERS.has(m)) fail(`'${key}': time modifier |${m} is not supported`, line);
        if (m === '') fail(`'${key}': empty modifier`, line);
        fail(`'${key}': unknown modifier |${m}`, line);
    }
  }
  if (typed.length > 1) fail(`'${key}': modifiers |${typed[0]} and |${typed[1]} cannot be combined`, line);
  const kind = typed[0];
  if (utf16 !== null && b64 === null) {
    fail(
      `'${key}': |${utf16Mod} is only supported before |base64 or |base64offset (logs are not UTF-16 text)`,
      line,
    );
  }
  if (modeMod !== null && kind !== undefined && kind !== 'base64' && kind !== 'base64offset') {
    fail(`'${key}': |${modeMod} cannot be combined with |${kind}`, line);
  }
  if (windash && kind !== undefined) fail(`'${key}': |windash cannot be combined with |${kind}`, line);
  if (
    field === null &&
    (kind === 'cidr' || kind === 'exists' || cmp !== null || kind === 'fieldref' || neq)
  ) {
    fail(`'${key}': |${neq ? 'neq' : kind} needs a field; keyword searches have none`, line);
  }
  if (neq && all) fail(`'${key}': |neq and |all cannot be combined`, line);
  if (neq && (kind === 'exists' || cmp !== null))
    fail(`'${key}': |neq cannot be combined with |${kind}`, line);

  const nulls = values.filter((v) => v === null).length;
  if (nulls > 0) {
    if (field === null) fail(`'${key}': a keyword list cannot contain null`, line);
    if (mods.length > 0) fail(`'${key}': null cannot be combined with modifiers`, line);
    if (nulls === values.length) return { kind: 'null' };
  }
  const texts: string[] = [];
  for (const v of values) {
    if (v === null) continue;
    const t = scalarText(v);
    if (t === undefined)
      fail(`'${key}': values must be strings, numbers or booleans, not ${describe(v)}`, line);
    texts.push(t);
  }

  switch (kind) {
    case 'exists': {
      const v = values[0];
      if (values.length !== 1 || typeof v !== 'boolean') fail(`'${key}': |exists needs true or false`, line);
      return { kind: 'exists', expected: v };
    }
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const numbers = values.map((v) => {
        const n =
          v instanceof YNum
            ? v.value
            : typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v)
              ? Number(v)
              : NaN;
        if (!Number.isFinite(n)) fail(`'${key}': |${kind} needs a number, not ${describe(v)}`, line);
        return n;
      });
      return { kind: 'compare', op: kind, numbers, all };
    }
    case 'cidr': {
      const ranges: CidrRange[] = texts.map((t) => {
        const r = parseCidr(t);
        if (!r) fail(`'${key}': '${t}' is not an IPv4 or IPv6 address or CIDR range`, line);
        return r;
      });
      return { kind: 'cidr', ranges, all, neq };
    }
    case 're': {
      if (cased)
        fail(`'${key}': |cased does not apply to |re (use |re|i for case-insensitive matching)`, line);
      const flags = regexFlags(reI, reM, reS);
      return { kind: 're', regexes: texts.map((t) => compileRegex(t, flags, key, line)), all, neq };
    }
    case 'fieldref': {
      if (texts.some((t) => t === '')) fail(`'${key}': |fieldref needs field names`, line);
      return { kind: 'fieldref', refs: texts, cased, all, neq };
    }
    default: {
      const patterns: Token[][][] = texts.map((t) => {
        if (b64 !== null) {
          const tokens = parseWildcards(t, false);
          if (hasWildcards(tokens)) fail(`'${key}': |${kind} values cannot contain wildcards`, line);
          const bytes = encodeBase64(tokens.join(''), utf16);
          const variants = b64 === 'plain' ? [bytes.toString('base64')] : base64Offsets(bytes);
          return variants.map((v) => wrap(literalTokens(v), mode));
        }
        return [wrap(parseWildcards(t, windash), mode)];
      });
      // Base64 text is case-sensitive: its values compare as written.
      return { kind: 'string', patterns, cased: cased || b64 !== null, all, neq, orNull: nulls > 0 };
    }
  }
}

function parseFieldTest(key: string, value: YV, line: number | undefined): FieldTest {
  const parts = key.split('|');
  const field = parts[0] === '' ? null : parts[0]!;
  const values: YV[] = Array.isArray(value) ? value : [value];
  if (value instanceof YMap) fail(`'${key}': a value cannot be a map`, line);
  for (const v of values) {
    if (Array.isArray(v) || v instanceof YMap)
      fail(`'${key}': list values must be strings, numbers, booleans or null`, line);
  }
  if (values.length === 0) fail(`'${key}': empty list of values`, line);
  return { key, field, test: buildTest(key, field, parts.slice(1), values, line) };
}

function keywordTest(name: string, values: YV[], line: number | undefined): FieldTest {
  return { key: name, field: null, test: buildTest(name, null, [], values, line) };
}

function parseMapItem(name: string, map: YMap, line: number | undefined): FieldTest[] {
  if (map.entries.size === 0) fail(`search identifier '${name}' is an empty map`, line);
  return [...map.entries].map(([k, v]) => parseFieldTest(k, v, map.lines.get(k) ?? line));
}

function parseSearch(name: string, value: YV, line: number | undefined): Search {
  if (value instanceof YMap) return { name, items: [parseMapItem(name, value, line)] };
  if (Array.isArray(value)) {
    if (value.length === 0) fail(`search identifier '${name}' is an empty list`, line);
    const items: FieldTest[][] = [];
    const keywords: YV[] = [];
    for (const v of value) {
      if (v instanceof YMap) items.push(parseMapItem(name, v, line));
      else if (v === null || Array.isArray(v))
        fail(`search identifier '${name}' has ${describe(v)} in its list`, line);
      else keywords.push(v);
    }
    if (keywords.length) items.unshift([keywordTest(name, keywords, line)]);
    return { name, items };
  }
  if (value === null) fail(`search identifier '${name}' is empty`, line);
  return { name, items: [[keywordTest(name, [value], line)]] };
}

function parseDetection(det: YMap, detLine: number | undefined): Detection {
  const searches: Search[] = [];
  for (const [name, value] of det.entries) {
    const line = det.lines.get(name) ?? detLine;
    if (name === 'condition') continue;
    if (name === 'timeframe') fail('detection.timeframe (an aggregation window) is not supported', line);
    searches.push(parseSearch(name, value, line));
  }
  if (!det.entries.has('condition')) fail("detection has no 'condition'", detLine);
  const raw = det.entries.get('condition')!;
  const condLine = det.lines.get('condition');
  const texts = Array.isArray(raw) ? raw : [raw];
  if (texts.length === 0) fail('detection.condition is an empty list', condLine);
  const names = searches.map((s) => s.name);
  const conditions: Condition[] = [];
  for (const t of texts) {
    if (typeof t !== 'string')
      fail(`detection.condition must be a string or a list of strings, not ${describe(t)}`, condLine);
    const parsed = parseCondition(t, names);
    if (!parsed.ok) fail(parsed.reason, condLine);
    conditions.push(parsed.condition);
  }
  const condition = conditions.length === 1 ? conditions[0]! : { kind: 'or' as const, items: conditions };
  return { searches, condition, conditionText: (texts as string[]).join(' or ') };
}

function mapLogSource(ls: LogSource): { taxonomy: Taxonomy; types: LogType[] } | string {
  // The log types registered for it (logtypes/registry.ts), each with the field taxonomy of its match.
  return typesForLogSource(ls.category?.toLowerCase(), ls.product?.toLowerCase(), ls.service?.toLowerCase());
}

function stringList(v: YV | undefined, key: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(`'${key}' must be a list of strings`);
  return v.map((x) => {
    const t = scalarText(x);
    if (t === undefined) fail(`'${key}' must be a list of strings, not contain ${describe(x)}`);
    return t;
  });
}

function optionalString(v: YV | undefined, key: string): string | null {
  if (v === undefined || v === null) return null;
  const t = scalarText(v);
  if (t === undefined) fail(`'${key}' must be a string, not ${describe(v)}`);
  return t;
}

function baseName(file: string): string {
  const name = file.split(/[\\/]/).pop() ?? file;
  return name.replace(/\.ya?ml$/i, '');
}

/**
 * Loads one rule file's text. Never throws on bad input: every problem is an UnsupportedRule with a reason
 * (YAML errors name the line).
 */
export function loadSigmaRule(text: string, file: string): LoadedRule | UnsupportedRule {
  let id = baseName(file);
  let title = baseName(file);
  const unsupported = (reason: string): UnsupportedRule => ({ kind: 'unsupported', id, title, file, reason });
  try {
    if (text.length > MAX_RULE_BYTES) fail(`the file is larger than ${MAX_RULE_BYTES} bytes`);
    const lc = new LineCounter();
    const docs = parseAllDocuments(text.replace(/^\uFEFF/, ''), {
      lineCounter: lc,
      prettyErrors: false,
      uniqueKeys: true,
    });
    const list = Array.isArray(docs) ? docs : [];
    for (const d of list) {
      const e = d.errors[0];
      if (e) {
        const pos = lc.linePos(e.pos[0]);
        fail(`YAML error at line ${pos.line}, column ${pos.col}: ${e.message.split('\n')[0]}`);
      }
    }
    const nonEmpty = list.filter((d) => d.contents !== null);
    if (nonEmpty.length === 0) fail('the file holds no YAML document');
    const first = nonEmpty[0]!;
    const root = toTree(first.contents, first, lc, { n: 0 }, 0);
    if (root instanceof YMap) {
      const t = scalarText(root.entries.get('title') ?? null);
      if (t) title = t;
      const i = scalarText(root.entries.get('id') ?? null) ?? scalarText(root.entries.get('name') ?? null);
      if (i) id = i;
    }
    if (nonEmpty.length > 1 || (root instanceof YMap && root.entries.has('action'))) {
      fail(
        'multi-document YAML (a Sigma 1 rule collection with action: global/reset/repeat) is not supported; write one rule per file',
      );
    }
    if (!(root instanceof YMap)) fail(`a rule must be a YAML map, not ${describe(root)}`);
    const get = (k: string) => root.entries.get(k);
    const line = (k: string) => root.lines.get(k);
    if (root.entries.has('correlation')) {
      const type =
        get('correlation') instanceof YMap
          ? scalarText((get('correlation') as YMap).entries.get('type') ?? null)
          : undefined;
      fail(
        `a Sigma correlation rule${type ? ` (type ${type})` : ''} is not supported: Bulwark evaluates single events`,
      );
    }
    if (root.entries.has('filter') && !root.entries.has('detection')) {
      fail('a Sigma filter (meta-filter) file is not supported; use a rule with a not-condition instead');
    }

    const titleValue = get('title');
    if (titleValue === undefined) fail("missing required key 'title'");
    const titleText = scalarText(titleValue);
    if (!titleText) fail(`'title' must be a non-empty string`, line('title'));
    if (titleText.length > 256) fail("'title' is longer than 256 characters", line('title'));
    const idValue = get('id');
    if (idValue !== undefined && scalarText(idValue) === undefined) fail(`'id' must be a string`, line('id'));

    const status = optionalString(get('status'), 'status');
    if (status === 'unsupported')
      fail("the rule's status is 'unsupported': its authors say it cannot be used as it is");

    const levelText = optionalString(get('level'), 'level');
    const level = (levelText ?? 'medium') as Severity;
    if (!SEVERITIES.includes(level))
      fail(`'level' must be one of ${SEVERITIES.join(', ')}, not '${levelText}'`, line('level'));

    const tags = stringList(get('tags'), 'tags');
    const references = stringList(get('references'), 'references');

    const ls = get('logsource');
    if (ls === undefined) fail("missing required key 'logsource'");
    if (!(ls instanceof YMap)) fail(`'logsource' must be a map, not ${describe(ls)}`, line('logsource'));
    const logsource: LogSource = {};
    for (const k of ['category', 'product', 'service'] as const) {
      const v = optionalString(ls.entries.get(k), `logsource.${k}`);
      if (v !== null) logsource[k] = v;
    }
    const det = get('detection');
    if (det === undefined) fail("missing required key 'detection'");
    if (!(det instanceof YMap)) fail(`'detection' must be a map, not ${describe(det)}`, line('detection'));

    const mapped = mapLogSource(logsource);
    if (typeof mapped === 'string') fail(mapped);

    const detection = parseDetection(det, line('detection'));

    let stage: LoadedRule['stage'] = 'exploitation';
    let cve: string | null = null;
    let mode: RuleMode = 'current';
    for (const tag of tags) {
      const m = /^cve\.(\d{4}-\d{4,})$/i.exec(tag);
      if (m) {
        cve = `CVE-${m[1]}`;
        break;
      }
    }
    const bw = get('bulwark');
    if (bw !== undefined) {
      const parsed = bulwarkBlock.safeParse(toPlain(bw));
      if (!parsed.success) {
        const issue = parsed.issues[0]!;
        const where = issue.path.length ? `bulwark.${issue.path.join('.')}` : 'bulwark';
        fail(`${where}: ${issue.message}`, line('bulwark'));
      }
      if (parsed.data.stage) stage = parsed.data.stage;
      if (parsed.data.cve) cve = parsed.data.cve;
      if (parsed.data.mode) mode = parsed.data.mode;
    }

    return {
      kind: 'rule',
      id,
      title: titleText,
      file,
      level,
      status,
      description: optionalString(get('description'), 'description'),
      author: optionalString(get('author'), 'author'),
      references,
      tags,
      logsource,
      taxonomy: mapped.taxonomy,
      types: mapped.types,
      cve,
      stage,
      mode,
      detection,
    };
  } catch (e) {
    if (e instanceof LoadError) return unsupported(e.message);
    // Defensive: hostile input must never escape as an exception.
    return unsupported(`the rule could not be read: ${e instanceof Error ? e.message : String(e)}`);
  }
}
