/**
 * One sentence for a request that fails its route's schema: where (`body.assets[0].role`, `querystring.verdict`)
 * and what it must be. For a closed set of values — an enum, a const, or a union of literals (TypeBox's
 * `Type.Union([Type.Literal(…), …])`, an `anyOf` to Ajv) — the sentence lists them: "must be one of: admin,
 * technician, read_only, customer", where Ajv alone says "must be equal to constant".
 *
 * Reads Ajv's errors in verbose mode (each carries the schema it failed), so the allowed values come from the
 * route's own schema and cannot drift from it.
 */
import { SCHEMA_MESSAGE } from '../core/index.js';

export interface SchemaError {
  keyword: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
  /** Verbose mode: the value of the failing keyword (for anyOf, the list of branches). */
  schema?: unknown;
  /** Verbose mode: the schema holding the failing keyword; a field's own wording sits under SCHEMA_MESSAGE. */
  parentSchema?: unknown;
}

export function validationMessage(errors: readonly SchemaError[], context = 'body'): string {
  const first = errors[0];
  if (!first) return `${context}: is invalid`;
  const missing = first.params?.missingProperty as string | undefined;
  const extra = first.params?.additionalProperty as string | undefined;
  const path = (first.instancePath ?? '').replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.');
  const where = `${context}${path}${missing ? `.${missing}` : ''}${extra ? `.${extra}` : ''}`;
  if (missing) return `${where}: is required`;
  if (extra) return `${where}: is not a known field`;
  const allowed = allowedValues(errors, first);
  if (allowed) {
    return allowed.length === 1
      ? `${where}: must be ${show(allowed[0])}`
      : `${where}: must be one of: ${allowed.map(show).join(', ')}`;
  }
  const own = (first.parentSchema as Record<symbol, unknown> | undefined)?.[SCHEMA_MESSAGE];
  return `${where}: ${typeof own === 'string' ? own : (first.message ?? 'is invalid')}`;
}

/** The closed set of values the failing spot allows, when it is one. */
function allowedValues(errors: readonly SchemaError[], first: SchemaError): unknown[] | undefined {
  // A union of literals: Ajv reports each branch's `const` failure, then the `anyOf` itself.
  const union = errors.find(
    (e) => e.keyword === 'anyOf' && e.instancePath === first.instancePath && Array.isArray(e.schema),
  );
  if (union) {
    const values = literals(union.schema as unknown[]);
    if (values) return values;
  }
  if (first.keyword === 'enum' && Array.isArray(first.params?.allowedValues)) {
    return first.params.allowedValues as unknown[];
  }
  if (first.keyword === 'const' && first.params && 'allowedValue' in first.params) {
    return [first.params.allowedValue];
  }
  return undefined;
}

/** The values of branches that are each a literal (const, enum or null), or undefined if one is not. */
function literals(branches: unknown[]): unknown[] | undefined {
  const out: unknown[] = [];
  for (const branch of branches) {
    const b = branch as { const?: unknown; enum?: unknown[]; type?: unknown };
    if (b && typeof b === 'object' && 'const' in b) out.push(b.const);
    else if (b && Array.isArray(b.enum)) out.push(...b.enum);
    else if (b && b.type === 'null') out.push(null);
    else return undefined;
  }
  return out.length ? out : undefined;
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
