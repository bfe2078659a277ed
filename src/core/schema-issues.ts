/**
 * What is wrong with a value that fails its schema, in words a person fixing the file understands: the field path,
 * what is wrong and what is allowed ("must be one of: known, unknown", `unknown field "titel"`, "expected a list,
 * not a map"). String values are not repeated (they may be secrets); numbers and booleans are.
 *
 * For a union the problems of the branch the value meant are reported: among the branches whose type and literal
 * properties (a `type: disable_service` discriminator) match, the one with the fewest missing and unknown fields,
 * then the fewest problems.
 */
import type { TSchema } from '@sinclair/typebox';
import type { TypeCheck } from '@sinclair/typebox/compiler';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import type { DataIssue } from './datafile.js';

/** The key of a schema's own message (see withMessage); a symbol, so it is not part of the JSON Schema. */
export const MESSAGE = Symbol.for('bulwark.schema.message');

/** Problems found per value at most; a file with more is reported as having that many. */
const MAX_ISSUES = 1000;

type Kind = 'type' | 'literal' | 'field' | 'other';
interface Found {
  pointer: string;
  message: string;
  kind: Kind;
}

interface Schema {
  type?: unknown;
  const?: unknown;
  enum?: unknown[];
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  [MESSAGE]?: string;
}

/** Every problem of `value` (which fails `check`), most relevant first, one per field. */
export function schemaIssues(check: TypeCheck<TSchema>, value: unknown): DataIssue[] {
  const found = collect(check.Errors(value));
  const seen = new Set<string>();
  const out: DataIssue[] = [];
  for (const f of found) {
    if (seen.has(f.pointer)) continue;
    seen.add(f.pointer);
    out.push({ path: toPath(f.pointer, value), message: f.message });
  }
  if (out.length === 0) out.push({ path: [], message: 'is not valid' });
  return out;
}

function collect(errors: Iterable<ValueError>): Found[] {
  const out: Found[] = [];
  for (const e of errors) {
    if (e.type === ValueErrorType.Union) out.push(...fromUnion(e));
    else out.push(fromError(e));
    if (out.length >= MAX_ISSUES) break;
  }
  return out;
}

function fromUnion(e: ValueError): Found[] {
  const branches = ((e.schema as Schema).anyOf ?? []) as Schema[];
  const values = literalValues(branches);
  if (values) return [{ pointer: e.path, message: oneOf(values), kind: 'literal' }];
  const tried = e.errors.map((it, i) => {
    const found = collect(it);
    const typeMismatch = found.some((f) => f.pointer === e.path && f.kind === 'type');
    const discriminator = found.find((f) => f.kind === 'literal' && isChild(e.path, f.pointer));
    const fields = found.filter((f) => f.kind === 'field' && isChild(e.path, f.pointer)).length;
    return { branch: branches[i]!, found, typeMismatch, discriminator, fields };
  });
  const fitting = tried.filter((t) => !t.typeMismatch);
  if (fitting.length === 0) {
    const names = [...new Set(branches.map(expected))];
    return [{ pointer: e.path, message: `expected ${names.join(' or ')}, ${not(e.value)}`, kind: 'type' }];
  }
  const matching = fitting.filter((t) => !t.discriminator);
  if (matching.length === 0) {
    // Every branch that has the right type names a different value for one key (the discriminator).
    const pointer = fitting[0]!.discriminator!.pointer;
    const key = unescapeKey(pointer.slice(pointer.lastIndexOf('/') + 1));
    const allowed = fitting.flatMap((t) => {
      const p = t.branch.properties?.[key];
      return p ? (literalValues([p]) ?? []) : [];
    });
    return [{ pointer, message: oneOf([...new Set(allowed)]), kind: 'literal' }];
  }
  return matching.reduce((best, t) =>
    t.fields < best.fields || (t.fields === best.fields && t.found.length < best.found.length) ? t : best,
  ).found;
}

function fromError(e: ValueError): Found {
  const s = e.schema as Schema;
  const own = s[MESSAGE];
  const found = (message: string, kind: Kind = 'other'): Found => ({ pointer: e.path, message, kind });
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return found('required field is missing', 'field');
    case ValueErrorType.ObjectAdditionalProperties: {
      const key = unescapeKey(e.path.slice(e.path.lastIndexOf('/') + 1));
      return found(`unknown field "${key}" (check its spelling or remove it)`, 'field');
    }
    case ValueErrorType.Literal:
      return found(oneOf([s.const]), 'literal');
    case ValueErrorType.String:
    case ValueErrorType.Number:
    case ValueErrorType.Integer:
    case ValueErrorType.Boolean:
    case ValueErrorType.Null:
    case ValueErrorType.Array:
    case ValueErrorType.Object:
      return found(`expected ${expected(s)}, ${not(e.value)}`, 'type');
    case ValueErrorType.StringMinLength:
      return found(
        own ?? (s.minLength === 1 ? 'must not be empty' : `must be at least ${s.minLength} characters long`),
      );
    case ValueErrorType.StringMaxLength:
      return found(own ?? `must be at most ${s.maxLength} characters long`);
    case ValueErrorType.StringPattern:
      return found(own ?? `must match ${s.pattern}`);
    case ValueErrorType.StringFormat:
    case ValueErrorType.StringFormatUnknown:
      return found(own ?? (s.format === 'uri' ? 'expected a URL' : `expected the format ${s.format}`));
    case ValueErrorType.ArrayMinItems:
      return found(
        own ?? (s.minItems === 1 ? 'must list at least one item' : `must list at least ${s.minItems} items`),
      );
    case ValueErrorType.ArrayMaxItems:
      return found(own ?? `must list at most ${s.maxItems} items`);
    case ValueErrorType.ArrayUniqueItems:
      return found(own ?? 'must not list an item twice');
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return found(own ?? `must be at least ${s.minimum}, not ${String(e.value)}`);
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return found(own ?? `must be at most ${s.maximum}, not ${String(e.value)}`);
    case ValueErrorType.NumberExclusiveMinimum:
    case ValueErrorType.IntegerExclusiveMinimum:
      return found(own ?? `must be more than ${s.exclusiveMinimum}, not ${String(e.value)}`);
    case ValueErrorType.NumberExclusiveMaximum:
    case ValueErrorType.IntegerExclusiveMaximum:
      return found(own ?? `must be less than ${s.exclusiveMaximum}, not ${String(e.value)}`);
    case ValueErrorType.NumberMultipleOf:
    case ValueErrorType.IntegerMultipleOf:
      return found(own ?? `must be a multiple of ${s.multipleOf}`);
    case ValueErrorType.Never:
      return found('is not allowed here');
    default:
      return found(own ?? e.message);
  }
}

/** The values of branches that are each a literal (const, enum or null), or undefined if one is not. */
function literalValues(branches: readonly Schema[]): unknown[] | undefined {
  const out: unknown[] = [];
  for (const b of branches) {
    if ('const' in b) out.push(b.const);
    else if (Array.isArray(b.enum)) out.push(...b.enum);
    else if (b.type === 'null') out.push(null);
    else return undefined;
  }
  return out.length > 0 ? out : undefined;
}

function oneOf(values: readonly unknown[]): string {
  return values.length === 1
    ? `must be ${show(values[0])}`
    : `must be one of: ${values.map(show).join(', ')}`;
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** "a string", "a list of strings", "an integer", … for the type a schema wants. */
function expected(s: Schema): string {
  if ('const' in s) return show(s.const);
  switch (s.type) {
    case 'string':
      return 'a string';
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'null':
      return 'null';
    case 'array': {
      const items = (s as { items?: Schema }).items;
      const of = items && !items.anyOf ? expected(items) : undefined;
      return of?.startsWith('a ') || of?.startsWith('an ')
        ? `a list of ${of.replace(/^an? /, '')}s`
        : 'a list';
    }
    case 'object':
      return 'a map';
    default:
      return s.anyOf ? s.anyOf.map(expected).join(' or ') : 'a valid value';
  }
}

/** "not a map", "not the number 1.5", … for the value given. */
function not(value: unknown): string {
  if (value === undefined) return 'but it is missing';
  if (value === null) return 'not null';
  if (Array.isArray(value)) return 'not a list';
  switch (typeof value) {
    case 'string':
      return 'not a string';
    case 'number':
      return `not the number ${value}`;
    case 'boolean':
      return `not ${value}`;
    case 'object':
      return 'not a map';
    default:
      return `not a ${typeof value}`;
  }
}

function isChild(parent: string, pointer: string): boolean {
  return pointer.startsWith(`${parent}/`) && !pointer.slice(parent.length + 1).includes('/');
}

function unescapeKey(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** A JSON pointer as a path; a segment is a number where the value at that point is a list. */
function toPath(pointer: string, root: unknown): PropertyKey[] {
  if (pointer === '') return [];
  const path: PropertyKey[] = [];
  let cur: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = unescapeKey(raw);
    if (Array.isArray(cur) && /^\d+$/.test(key)) {
      path.push(Number(key));
      cur = cur[Number(key)];
    } else {
      path.push(key);
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[key] : undefined;
    }
  }
  return path;
}
