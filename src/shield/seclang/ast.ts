import type { RulePhase } from '../types.js';

export type Engine = 'On' | 'DetectionOnly' | 'Off';

/** Variables the engine understands (ModSecurity names). */
export const VARIABLES = [
  'REQUEST_URI',
  'REQUEST_FILENAME',
  'REQUEST_BASENAME',
  'REQUEST_METHOD',
  'REQUEST_PROTOCOL',
  'REQUEST_LINE',
  'QUERY_STRING',
  'ARGS',
  'ARGS_NAMES',
  'ARGS_GET',
  'ARGS_GET_NAMES',
  'ARGS_POST',
  'ARGS_POST_NAMES',
  'REQUEST_HEADERS',
  'REQUEST_HEADERS_NAMES',
  'REQUEST_COOKIES',
  'REQUEST_COOKIES_NAMES',
  'REQUEST_BODY',
  'REMOTE_ADDR',
  'TX',
] as const;
export type VariableName = (typeof VARIABLES)[number];

/** Collections accept a `:selector`; the others are single values. */
export const COLLECTIONS: ReadonlySet<VariableName> = new Set<VariableName>([
  'ARGS',
  'ARGS_NAMES',
  'ARGS_GET',
  'ARGS_GET_NAMES',
  'ARGS_POST',
  'ARGS_POST_NAMES',
  'REQUEST_HEADERS',
  'REQUEST_HEADERS_NAMES',
  'REQUEST_COOKIES',
  'REQUEST_COOKIES_NAMES',
  'TX',
]);

export const OPERATORS = [
  'rx',
  'contains',
  'beginsWith',
  'endsWith',
  'streq',
  'pm',
  'within',
  'ipMatch',
  'eq',
  'ge',
  'gt',
  'le',
  'lt',
  'unconditionalMatch',
  'noMatch',
] as const;
export type OperatorName = (typeof OPERATORS)[number];

export const TRANSFORMATIONS = [
  'none',
  'lowercase',
  'urlDecode',
  'urlDecodeUni',
  'htmlEntityDecode',
  'compressWhitespace',
  'removeWhitespace',
  'removeNulls',
  'base64Decode',
  'normalizePath',
  'normalizePathWin',
  'trim',
] as const;
export type TransformationName = (typeof TRANSFORMATIONS)[number];

export interface VariableRef {
  name: VariableName;
  /** `REQUEST_HEADERS:Cookie` → `Cookie`; for a regex selector (`ARGS:/^id/`) the regex source without slashes. */
  selector?: string;
  selectorIsRegex: boolean;
  /** `!REQUEST_HEADERS:Cookie`: removes those members from the rule's targets. */
  excluded: boolean;
  /** `&ARGS`: the number of members instead of their values. */
  count: boolean;
}

export interface OperatorRef {
  name: OperatorName;
  argument: string;
  negated: boolean;
}

export type Disruptive = 'deny' | 'drop' | 'pass' | 'block';

export interface RuleActions {
  id?: number;
  phase?: RulePhase;
  /** As written on the rule (undefined when the rule names none). */
  disruptive?: Disruptive;
  status?: number;
  msg?: string;
  tags: string[];
  severity?: string;
  /** `log` → true, `nolog` → false, unset → undefined (default: log). */
  log?: boolean;
  capture: boolean;
  chain: boolean;
  /** `t:` actions as written, in order (may include `none`). */
  transformations: TransformationName[];
}

/** A rule in a chain after the starter: no id/phase/disruptive/metadata of its own. */
export interface ChainedRuleAst {
  variables: VariableRef[];
  operator: OperatorRef;
  /** Effective transformations (defaults from SecDefaultAction unless `t:none`). */
  transformations: TransformationName[];
  actions: RuleActions;
  chain?: ChainedRuleAst;
  source: { file: string; line: number };
}

export interface RuleAst extends ChainedRuleAst {
  id: number;
  phase: RulePhase;
  /** Resolved disruptive action: the rule's own, `block`/none → SecDefaultAction for the phase, else pass. */
  effectiveAction: 'deny' | 'drop' | 'pass';
  /** HTTP status for `deny` (rule's `status`, else SecDefaultAction's, else 403). */
  status: number;
  log: boolean;
}

export interface DefaultAction {
  phase: RulePhase;
  disruptive: 'deny' | 'drop' | 'pass';
  status?: number;
  log: boolean;
  transformations: TransformationName[];
  source: { file: string; line: number };
}

export interface SecLangAst {
  file: string;
  /** Last `SecRuleEngine` in the file, if any. */
  engine?: Engine;
  rules: RuleAst[];
  /** `SecRuleRemoveById` ranges (inclusive). They apply to every rule of the ruleset, as in ModSecurity v3. */
  removedIds: Array<[number, number]>;
  defaultActions: DefaultAction[];
}
