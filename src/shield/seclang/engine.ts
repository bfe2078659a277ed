import type { RE2JS } from 're2js';
import type { Decision, RuleMatch, RulePhase, ShieldRequest } from '../types.js';
import {
  type ChainedRuleAst,
  type Engine,
  type RuleAst,
  type SecLangAst,
  VARIABLES,
  type VariableName,
  type VariableRef,
} from './ast.js';
import { SecLangError } from './errors.js';
import { compileOperator, compileRegex, toBytes } from './operators.js';
import { RequestView } from './request.js';
import { composeTransforms } from './transforms.js';

type Members = (view: RequestView) => ReadonlyArray<readonly [string, string]>;

function namesOf(pairs: ReadonlyArray<readonly [string, string]>): Array<[string, string]> {
  return pairs.map(([k]) => [k, k]);
}

const COLLECTION_MEMBERS: Partial<Record<VariableName, Members>> = {
  ARGS: (v) => (v.phase === 2 ? [...v.argsGet, ...v.argsPost] : v.argsGet),
  ARGS_NAMES: (v) => namesOf(v.phase === 2 ? [...v.argsGet, ...v.argsPost] : v.argsGet),
  ARGS_GET: (v) => v.argsGet,
  ARGS_GET_NAMES: (v) => namesOf(v.argsGet),
  ARGS_POST: (v) => v.argsPost,
  ARGS_POST_NAMES: (v) => namesOf(v.argsPost),
  REQUEST_HEADERS: (v) => v.req.headers,
  REQUEST_HEADERS_NAMES: (v) => namesOf(v.req.headers),
  REQUEST_COOKIES: (v) => v.cookies,
  REQUEST_COOKIES_NAMES: (v) => namesOf(v.cookies),
  TX: (v) => v.txEntries,
};

const SCALARS: Partial<Record<VariableName, (v: RequestView) => string | undefined>> = {
  REQUEST_URI: (v) => v.requestUri,
  REQUEST_FILENAME: (v) => v.filename,
  REQUEST_BASENAME: (v) => {
    const f = v.filename;
    const i = Math.max(f.lastIndexOf('/'), f.lastIndexOf('\\'));
    return i >= 0 && i < f.length - 1 ? f.slice(i + 1) : undefined;
  },
  REQUEST_METHOD: (v) => v.req.method,
  REQUEST_PROTOCOL: (v) => `HTTP/${v.req.httpVersion}`,
  REQUEST_LINE: (v) => `${v.req.method} ${v.req.uri} HTTP/${v.req.httpVersion}`,
  QUERY_STRING: (v) => v.queryString,
  REQUEST_BODY: (v) => v.body ?? undefined,
  REMOTE_ADDR: (v) => v.req.remoteAddr,
};

type KeyTest = (key: string) => boolean;

function keyTest(ref: VariableRef): KeyTest {
  if (ref.selectorIsRegex) {
    const re: RE2JS = compileRegex(ref.selector!, 1 /* CASE_INSENSITIVE */);
    return (k) => re.test(k);
  }
  const want = toBytes(ref.selector!).toLowerCase();
  return (k) => k.length === want.length && k.toLowerCase() === want;
}

/**
 * Receives one target of a rule: its name as `label` or `label:key` (built only when the rule reports it) and its
 * value. Returns true to stop (the rule has decided).
 */
type Visit = (label: string, key: string | undefined, value: string) => boolean;
/** Calls `visit` for each target in order until it returns true; returns whether one did. */
type Targets = (view: RequestView, visit: Visit) => boolean;

function targetName(label: string, key: string | undefined): string {
  return key === undefined ? label : `${label}:${key}`;
}

/** Compile a rule's variable list (with exclusions) to one function walking its targets. */
function compileTargets(refs: VariableRef[]): Targets {
  const exclusions = new Map<VariableName, KeyTest[]>();
  for (const r of refs) {
    if (!r.excluded) continue;
    const list = exclusions.get(r.name) ?? [];
    list.push(keyTest(r));
    exclusions.set(r.name, list);
  }
  const producers: Targets[] = [];
  for (const r of refs) {
    if (r.excluded) continue;
    const scalar = SCALARS[r.name];
    const name = r.name;
    if (scalar) {
      const label = `&${name}`;
      producers.push(
        r.count
          ? (view, visit) => visit(label, undefined, scalar(view) === undefined ? '0' : '1')
          : (view, visit) => {
              const value = scalar(view);
              return value !== undefined && visit(name, undefined, value);
            },
      );
      continue;
    }
    const members = COLLECTION_MEMBERS[name]!;
    const sel = r.selector !== undefined ? keyTest(r) : undefined;
    const excl = exclusions.get(name) ?? [];
    if (r.count) {
      const label = `&${name}${r.selector !== undefined ? `:${r.selector}` : ''}`;
      producers.push((view, visit) => {
        let n = 0;
        for (const [k] of members(view)) {
          if (sel && !sel(k)) continue;
          if (excl.length > 0 && excl.some((t) => t(k))) continue;
          n++;
        }
        return visit(label, undefined, String(n));
      });
      continue;
    }
    producers.push((view, visit) => {
      for (const [k, value] of members(view)) {
        if (sel && !sel(k)) continue;
        if (excl.length > 0 && excl.some((t) => t(k))) continue;
        if (visit(name, k, value)) return true;
      }
      return false;
    });
  }
  if (producers.length === 1) return producers[0]!;
  return (view, visit) => {
    for (const p of producers) if (p(view, visit)) return true;
    return false;
  };
}

interface Hit {
  variable: string;
  excerpt: string;
}
type RuleFn = (view: RequestView) => Hit | null;

/** Numbers distinct transformation chains, so that a request view can cache results per chain in an array. */
class ChainIds {
  private readonly ids = new Map<string, number>();
  of(names: readonly string[]): number {
    const key = names.join(',');
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(key, id);
    }
    return id;
  }
}

/** Transformation step of one rule link: cached per request when the chain does anything. */
function compileTransform(r: ChainedRuleAst, ids: ChainIds): (view: RequestView, value: string) => string {
  if (!r.transformations.some((t) => t !== 'none')) return (_view, value) => value;
  const fn = composeTransforms(r.transformations);
  const id = ids.of(r.transformations);
  return (view, value) => view.transform(id, value, fn);
}

function compileChainLink(r: ChainedRuleAst, ids: ChainIds): RuleFn {
  const targets = compileTargets(r.variables);
  const op = compileOperator(r.operator);
  const transform = compileTransform(r, ids);
  const capture = r.actions.capture;
  const next = r.chain ? compileChainLink(r.chain, ids) : undefined;
  return (view) => {
    let hit: Hit | null = null;
    targets(view, (label, key, value) => {
      const v = transform(view, value);
      const res = op(v, capture);
      if (res === null) return false;
      if (capture && res.length > 0) {
        const tx = view.tx;
        for (let i = 0; i < 10; i++) tx.delete(String(i));
        for (let i = 0; i < res.length; i++) tx.set(String(i), res[i]!);
      }
      // The first matching target decides the link: the rest of the chain must match too.
      if (next && next(view) === null) return true;
      hit = { variable: targetName(label, key), excerpt: v.length > 200 ? v.slice(0, 200) : v };
      return true;
    });
    return hit;
  };
}

/** One link alone (no chain, no capture): does any of its targets match? */
function compileLinkTest(r: ChainedRuleAst, ids: ChainIds): (view: RequestView) => boolean {
  const targets = compileTargets(r.variables);
  const op = compileOperator(r.operator);
  const transform = compileTransform(r, ids);
  return (view) => targets(view, (_label, _key, value) => op(transform(view, value), false) !== null);
}

/** Variables that read the body. A new variable that does must be listed here (HEAD_VARS is the rest). */
const BODY_VARS = new Set<VariableName>([
  'REQUEST_BODY',
  'ARGS',
  'ARGS_NAMES',
  'ARGS_POST',
  'ARGS_POST_NAMES',
]);

/**
 * Variables whose values come from the request line, the headers and the connection alone — the same in phase 1
 * and phase 2, whatever the body and whatever other rules captured. (TX is not: captures of earlier rules.)
 */
const HEAD_VARS: ReadonlySet<VariableName> = new Set(
  VARIABLES.filter((v) => !BODY_VARS.has(v) && v !== 'TX'),
);

function readsBody(r: ChainedRuleAst | undefined): boolean {
  for (let x = r; x; x = x.chain)
    if (x.variables.some((v) => !v.excluded && BODY_VARS.has(v.name))) return true;
  return false;
}

/** A link decided by the head alone: it reads only HEAD_VARS. */
function headOnly(r: ChainedRuleAst): boolean {
  return r.variables.every((v) => v.excluded || HEAD_VARS.has(v.name));
}

export interface RuleInfo {
  id: number;
  phase: RulePhase;
  /** Number of chained rules after the starter (0 = no chain). */
  chain: number;
  enabled: boolean;
  action: 'deny' | 'drop' | 'pass';
  source: { file: string; line: number };
}

/** One request's evaluation across phases, sharing the values derived from it (decoded URI, cookies, transforms). */
export interface RuleTransaction {
  /** Phase 1 (no body). */
  phase1(): Decision;
  /**
   * Whether phase 2 must see the body: some enabled phase-2 rule reads REQUEST_BODY / ARGS / ARGS_POST(_NAMES) and
   * every link of its chain that the request line and headers decide holds for this request. When false, phase 2
   * without the body decides exactly as phase 2 with it, so the body can stream to the upstream uninspected.
   */
  needsBody(): boolean;
  /** Phase 2, with the body as far as it was read (default: the request's own `body`, if any). */
  phase2(body?: Buffer): Decision;
}

export interface Ruleset {
  readonly engine: Engine;
  /**
   * Some request may need its body buffered for phase 2 (an enabled phase-2 rule reads REQUEST_BODY / ARGS /
   * ARGS_POST(_NAMES)); which ones, RuleTransaction.needsBody decides.
   */
  readonly needsBody: boolean;
  readonly rules: ReadonlyArray<RuleInfo>;
  /** The parsed files this ruleset was compiled from (for exporters). */
  readonly asts: ReadonlyArray<SecLangAst>;
  evaluate(req: ShieldRequest, phase: RulePhase): Decision;
  /**
   * Start evaluating one request phase by phase. `maxArgs`: most ARGS (query + urlencoded body) the request may
   * have; reading more throws TooManyArgumentsError from phase1/needsBody/phase2 (default: no bound).
   */
  begin(req: ShieldRequest, opts?: { maxArgs?: number }): RuleTransaction;
}

/** Compile parsed files (in order) into one ruleset. Duplicate ids across files are an error. */
export function compileRuleset(asts: ReadonlyArray<SecLangAst>): Ruleset {
  let engine: Engine = 'On';
  const removed: Array<[number, number]> = [];
  const seen = new Map<number, RuleAst>();
  for (const a of asts) {
    if (a.engine) engine = a.engine;
    removed.push(...a.removedIds);
    for (const r of a.rules) {
      const prev = seen.get(r.id);
      if (prev) {
        throw new SecLangError(
          r.source.file,
          r.source.line,
          'SecRule',
          `duplicate rule id ${r.id} (first defined at ${prev.source.file}:${prev.source.line})`,
        );
      }
      seen.set(r.id, r);
    }
  }
  const isRemoved = (id: number) => removed.some(([lo, hi]) => id >= lo && id <= hi);
  const infos: RuleInfo[] = [];
  const byPhase: Record<RulePhase, Array<{ r: RuleAst; fn: RuleFn }>> = { 1: [], 2: [] };
  const ids = new ChainIds();
  /**
   * Per enabled phase-2 rule that reads the body: the tests of its head-only links (all must hold for the rule to
   * match at all). An empty list means the rule may match any request with a body.
   */
  const bodyGates: Array<Array<(view: RequestView) => boolean>> = [];
  for (const r of seen.values()) {
    let chain = 0;
    for (let x = r.chain; x; x = x.chain) chain++;
    const enabled = !isRemoved(r.id);
    infos.push({ id: r.id, phase: r.phase, chain, enabled, action: r.effectiveAction, source: r.source });
    if (!enabled) continue;
    byPhase[r.phase].push({ r, fn: compileChainLink(r, ids) });
    if (r.phase === 2 && readsBody(r)) {
      const gates: Array<(view: RequestView) => boolean> = [];
      for (let x: ChainedRuleAst | undefined = r; x; x = x.chain)
        if (headOnly(x)) gates.push(compileLinkTest(x, ids));
      bodyGates.push(gates);
    }
  }
  const off = engine === 'Off';
  const needsBody = !off && bodyGates.length > 0;
  const detectionOnly = engine === 'DetectionOnly';

  const run = (view: RequestView): Decision => {
    const rules = byPhase[view.phase];
    if (rules.length === 0) return { action: 'allow', matches: [], detectionOnly };
    const matches: RuleMatch[] = [];
    for (const { r, fn } of rules) {
      const hit = fn(view);
      if (!hit) continue;
      const m: RuleMatch = {
        id: r.id,
        phase: r.phase,
        tags: [...r.actions.tags],
        variable: hit.variable,
        excerpt: hit.excerpt,
        action: r.effectiveAction,
      };
      if (r.actions.msg !== undefined) m.msg = r.actions.msg;
      if (r.actions.severity !== undefined) m.severity = r.actions.severity;
      matches.push(m);
      if (!detectionOnly && r.effectiveAction !== 'pass') {
        return r.effectiveAction === 'deny'
          ? { action: 'deny', status: r.status, matches, detectionOnly: false }
          : { action: 'drop', matches, detectionOnly: false };
      }
    }
    return { action: 'allow', matches, detectionOnly };
  };

  return {
    engine,
    needsBody,
    rules: infos,
    asts,
    evaluate(req, phase) {
      if (off) return { action: 'allow', matches: [], detectionOnly: false };
      return run(new RequestView(req, phase));
    },
    begin(req, opts) {
      let view: RequestView | undefined;
      const viewFor = (phase: RulePhase, body?: Buffer) => {
        if (!view) {
          view = new RequestView(req, phase, body);
          if (opts?.maxArgs !== undefined) view.maxArgs = opts.maxArgs;
        } else view.enterPhase(phase, body);
        return view;
      };
      let bodyNeeded: boolean | undefined;
      return {
        phase1: () => (off ? { action: 'allow', matches: [], detectionOnly: false } : run(viewFor(1))),
        needsBody() {
          if (bodyNeeded === undefined) {
            bodyNeeded = false;
            if (needsBody) {
              const v = view ?? viewFor(1);
              bodyNeeded = bodyGates.some((gates) => gates.every((g) => g(v)));
            }
          }
          return bodyNeeded;
        },
        phase2: (body = req.body) =>
          off ? { action: 'allow', matches: [], detectionOnly: false } : run(viewFor(2, body)),
      };
    },
  };
}
