import type { RE2JS } from 're2js';
import type { Decision, RuleMatch, RulePhase, ShieldRequest } from '../types.js';
import type { ChainedRuleAst, Engine, RuleAst, SecLangAst, VariableName, VariableRef } from './ast.js';
import { SecLangError } from './errors.js';
import { compileOperator, compileRegex, toBytes } from './operators.js';
import { RequestView } from './request.js';
import { composeTransforms } from './transforms.js';

interface Target {
  name: string;
  value: string;
}

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
  TX: (v) => [...v.tx],
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

/** Compile a rule's variable list (with exclusions) to one function producing its targets. */
function compileTargets(refs: VariableRef[]): (view: RequestView) => Target[] {
  const exclusions = new Map<VariableName, KeyTest[]>();
  for (const r of refs) {
    if (!r.excluded) continue;
    const list = exclusions.get(r.name) ?? [];
    list.push(keyTest(r));
    exclusions.set(r.name, list);
  }
  const producers: Array<(view: RequestView, out: Target[]) => void> = [];
  for (const r of refs) {
    if (r.excluded) continue;
    const scalar = SCALARS[r.name];
    if (scalar) {
      producers.push(
        r.count
          ? (view, out) => out.push({ name: `&${r.name}`, value: scalar(view) === undefined ? '0' : '1' })
          : (view, out) => {
              const value = scalar(view);
              if (value !== undefined) out.push({ name: r.name, value });
            },
      );
      continue;
    }
    const members = COLLECTION_MEMBERS[r.name]!;
    const sel = r.selector !== undefined ? keyTest(r) : undefined;
    const excl = exclusions.get(r.name) ?? [];
    const label = r.count ? `&${r.name}${r.selector !== undefined ? `:${r.selector}` : ''}` : '';
    producers.push((view, out) => {
      let n = 0;
      for (const [k, value] of members(view)) {
        if (sel && !sel(k)) continue;
        if (excl.length > 0 && excl.some((t) => t(k))) continue;
        if (r.count) n++;
        else out.push({ name: `${r.name}:${k}`, value });
      }
      if (r.count) out.push({ name: label, value: String(n) });
    });
  }
  return (view) => {
    const out: Target[] = [];
    for (const p of producers) p(view, out);
    return out;
  };
}

interface Hit {
  variable: string;
  excerpt: string;
}
type RuleFn = (view: RequestView) => Hit | null;

function compileChainLink(r: ChainedRuleAst): RuleFn {
  const targets = compileTargets(r.variables);
  const op = compileOperator(r.operator);
  const transform = composeTransforms(r.transformations);
  const chain = r.transformations.join(',');
  const capture = r.actions.capture;
  const next = r.chain ? compileChainLink(r.chain) : undefined;
  return (view) => {
    for (const t of targets(view)) {
      const v = view.transform(chain, t.value, transform);
      const res = op(v, capture);
      if (res === null) continue;
      if (capture && res.length > 0) {
        for (let i = 0; i < 10; i++) view.tx.delete(String(i));
        for (let i = 0; i < res.length; i++) view.tx.set(String(i), res[i]!);
      }
      if (next && next(view) === null) return null;
      return { variable: t.name, excerpt: v.length > 200 ? v.slice(0, 200) : v };
    }
    return null;
  };
}

const BODY_VARS = new Set<VariableName>([
  'REQUEST_BODY',
  'ARGS',
  'ARGS_NAMES',
  'ARGS_POST',
  'ARGS_POST_NAMES',
]);

function readsBody(r: ChainedRuleAst | undefined): boolean {
  for (let x = r; x; x = x.chain)
    if (x.variables.some((v) => !v.excluded && BODY_VARS.has(v.name))) return true;
  return false;
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

export interface Ruleset {
  readonly engine: Engine;
  /** Any enabled phase-2 rule reads REQUEST_BODY / ARGS / ARGS_POST(_NAMES): the gateway must buffer the body. */
  readonly needsBody: boolean;
  readonly rules: ReadonlyArray<RuleInfo>;
  /** The parsed files this ruleset was compiled from (for exporters). */
  readonly asts: ReadonlyArray<SecLangAst>;
  evaluate(req: ShieldRequest, phase: RulePhase): Decision;
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
  let needsBody = false;
  for (const r of seen.values()) {
    let chain = 0;
    for (let x = r.chain; x; x = x.chain) chain++;
    const enabled = !isRemoved(r.id);
    infos.push({ id: r.id, phase: r.phase, chain, enabled, action: r.effectiveAction, source: r.source });
    if (!enabled) continue;
    byPhase[r.phase].push({ r, fn: compileChainLink(r) });
    if (r.phase === 2 && readsBody(r)) needsBody = true;
  }
  if (engine === 'Off') needsBody = false;
  const detectionOnly = engine === 'DetectionOnly';

  return {
    engine,
    needsBody,
    rules: infos,
    asts,
    evaluate(req, phase) {
      if (engine === 'Off') return { action: 'allow', matches: [], detectionOnly: false };
      const view = new RequestView(req, phase);
      const matches: RuleMatch[] = [];
      for (const { r, fn } of byPhase[phase] ?? []) {
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
    },
  };
}
