/**
 * SecLang (ModSecurity) subset for virtual patches: parse once, compile to closures, evaluate requests per phase.
 * Regular expressions run on RE2 (re2js, linear time); patterns RE2 cannot run are refused at load time.
 */
import type { SecLangAst } from './ast.js';
import { compileRuleset, type Ruleset } from './engine.js';
import { parseSecLangAst } from './parser.js';

export type {
  ChainedRuleAst,
  DefaultAction,
  Disruptive,
  Engine,
  OperatorName,
  OperatorRef,
  RuleActions,
  RuleAst,
  SecLangAst,
  TransformationName,
  VariableName,
  VariableRef,
} from './ast.js';
export { OPERATORS, TRANSFORMATIONS, VARIABLES } from './ast.js';
export type { RuleInfo, Ruleset, RuleTransaction } from './engine.js';
export { compileRuleset } from './engine.js';
export { SecLangError } from './errors.js';
export { parseSecLangAst } from './parser.js';

/** Parse and compile one SecLang file. Throws SecLangError naming file, line and directive. */
export function parseSecLang(text: string, file: string): Ruleset {
  return compileRuleset([parseSecLangAst(text, file)]);
}

/** Combine rulesets in order (later SecRuleEngine wins; SecRuleRemoveById applies to all; duplicate ids throw). */
export function mergeRulesets(...sets: Ruleset[]): Ruleset {
  const asts: SecLangAst[] = [];
  for (const s of sets) asts.push(...s.asts);
  return compileRuleset(asts);
}
