/**
 * Shapes shared inside the Sigma engine: a loaded rule (log-type independent, validated, regular expressions
 * compiled once), the reason a rule cannot run, and the detection tree the compiler turns into a matcher.
 */

import type { RE2JS } from 're2js';
import type { CidrRange } from '../../core/index.js';
import type { LogType, Severity, Stage } from '../types.js';

/** Which hunt mode a rule belongs to: today's checks, or the original conditions of 2021-03-02. */
export type RuleMode = 'current' | 'strict-2021-03-02';

/**
 * Which field names a rule speaks:
 * - `webserver`: the Sigma taxonomy of `category: webserver` (W3C names such as `cs-uri-query`, `cs-user-agent`);
 * - `windows`: Windows event fields of `product: windows, service: application` (`EventID`, `Provider_Name`, …);
 * - `native`: Bulwark's own `product: exchange` log sources, written with the log's own column names.
 */
export type Taxonomy = 'webserver' | 'windows' | 'native';

/** Wildcard tokens in a value pattern; every other token is one literal UTF-16 code unit (a string). */
export const STAR = 0; // `*`: any run of characters
export const ANY = 1; // `?`: exactly one character
export const DASH = 2; // a `|windash` position: one of `-` `/` `–` `—` `―`
export type Token = string | typeof STAR | typeof ANY | typeof DASH;

export const DASH_CHARS = '-/\u2013\u2014\u2015';

export type { CidrRange };

export interface CompiledRegex {
  source: string;
  re: RE2JS;
}

/** What one `field|modifiers: values` entry (or one keyword list) tests. */
export type ValueTest =
  | {
      kind: 'string';
      /**
       * Per value, its alternatives (one, or the three shifts of `|base64offset`), each a token list with wildcards
       * resolved and `contains`/`startswith`/`endswith` applied.
       */
      patterns: Token[][][];
      cased: boolean;
      /** `|all`: every value must match (else any). */
      all: boolean;
      /** `|neq`: the field is present and matches none of the values. */
      neq: boolean;
      /** A `null` was among the values: an absent or empty field matches too. */
      orNull: boolean;
    }
  | { kind: 'null' }
  | { kind: 're'; regexes: CompiledRegex[]; all: boolean; neq: boolean }
  | { kind: 'cidr'; ranges: CidrRange[]; all: boolean; neq: boolean }
  | { kind: 'exists'; expected: boolean }
  | { kind: 'compare'; op: 'lt' | 'lte' | 'gt' | 'gte'; numbers: number[]; all: boolean }
  | { kind: 'fieldref'; refs: string[]; cased: boolean; all: boolean; neq: boolean };

export interface FieldTest {
  /** The key as written, e.g. `cs-uri-query|contains|all`, or `|all` / `(keywords)` for keyword searches. */
  key: string;
  /** Sigma field name; `null` for a keyword search over the whole event. */
  field: string | null;
  test: ValueTest;
}

/** A search identifier: OR over its items, each item an AND of field tests. */
export interface Search {
  name: string;
  items: FieldTest[][];
}

export type Condition =
  | { kind: 'ref'; name: string }
  | { kind: 'and'; items: Condition[] }
  | { kind: 'or'; items: Condition[] }
  | { kind: 'not'; item: Condition };

export interface Detection {
  searches: Search[];
  condition: Condition;
  /** The condition as written (list conditions joined with ` or `). */
  conditionText: string;
}

export interface LogSource {
  category?: string;
  product?: string;
  service?: string;
}

export interface LoadedRule {
  kind: 'rule';
  /** Sigma `id`, else `name`, else the file's base name. */
  id: string;
  title: string;
  file: string;
  level: Severity;
  status: string | null;
  description: string | null;
  /** Kept for attribution: the Detection Rule License asks alerts to keep the rule's author. */
  author: string | null;
  references: string[];
  tags: string[];
  logsource: LogSource;
  taxonomy: Taxonomy;
  /** Log types the log source applies to. */
  types: LogType[];
  cve: string | null;
  stage: Stage;
  mode: RuleMode;
  detection: Detection;
}

export interface UnsupportedRule {
  kind: 'unsupported';
  id: string;
  title: string;
  file: string;
  /** One line saying what Bulwark cannot evaluate, e.g. `log source windows/process_creation is not a log Bulwark reads`. */
  reason: string;
  /** Set when the rule is only unsupported for this log type (e.g. a field the log does not have). */
  type?: LogType;
}

export function isUnsupported(x: { kind: string }): x is UnsupportedRule {
  return x.kind === 'unsupported';
}
