/**
 * Schemas of data people write (advisories, catalogs, facts, configuration files) are TypeBox, i.e. plain JSON
 * Schema: the server validates and documents the same schemas in its API, and external clients can use them.
 * Here they are compiled (TypeBox's TypeCompiler) into validators that fill in defaults, run the semantic checks a
 * schema cannot express and explain every problem by field path (see schema-issues.ts for the wording).
 */
import {
  FormatRegistry,
  type ObjectOptions,
  type Static,
  type TArray,
  type TLiteral,
  type TObject,
  type TOptional,
  type TProperties,
  type TSchema,
  type TUnion,
  Type,
} from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { DataFileError, type DataIssue, formatPath, moreProblems } from './datafile.js';
import { MESSAGE, schemaIssues } from './schema-issues.js';

/**
 * The key under which withMessage keeps a field's own wording: a symbol, so not part of the JSON Schema. Ajv's
 * verbose errors carry the schema object (`parentSchema`), so an API can use the same wording.
 */
export const SCHEMA_MESSAGE = MESSAGE;

// `format: uri` as the URL parser reads it (Fastify's ajv knows the same format name).
if (!FormatRegistry.Has('uri')) FormatRegistry.Set('uri', (value) => URL.canParse(value));

declare const DefaultedKind: unique symbol;
/** An optional property that a validator fills in with its default: optional to write, always there once parsed. */
export type TDefaulted<T extends TSchema> = TOptional<T> & { readonly [DefaultedKind]: true };

/**
 * `schema` as an optional property whose absence means `value` (in the JSON Schema: `default`). `value` is written as
 * a file would hold it; its own defaults are filled in too.
 */
export function Defaulted<T extends TSchema>(schema: T, value: Static<T>): TDefaulted<T> {
  return Type.Optional({ ...schema, default: value }) as unknown as TDefaulted<T>;
}

/**
 * `schema` whose constraint failures (pattern, format, length, range, number of items) are explained by `message`
 * instead of the generic wording, e.g. "expected a CVE id such as CVE-2021-26855". The message is not part of the
 * JSON Schema.
 */
export function withMessage<T extends TSchema>(schema: T, message: string): T {
  return { ...schema, [MESSAGE]: message };
}

/** An object that names its unknown fields as problems (JSON Schema `additionalProperties: false`). */
export function StrictObject<P extends TProperties>(properties: P, options: ObjectOptions = {}): TObject<P> {
  return Type.Object(properties, { ...options, additionalProperties: false });
}

/** One of a closed set of strings (JSON Schema `anyOf` of `const`s); a wrong value is told the values allowed. */
export function LiteralUnion<const T extends string>(values: readonly T[]): TUnion<TLiteral<T>[]> {
  return Type.Union(values.map((v) => Type.Literal(v)));
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type OutputObject<P extends TProperties> = Simplify<
  {
    [K in keyof P as P[K] extends TDefaulted<TSchema>
      ? K
      : P[K] extends TOptional<TSchema>
        ? never
        : K]: StaticOutput<P[K]>;
  } & {
    [K in keyof P as P[K] extends TDefaulted<TSchema>
      ? never
      : P[K] extends TOptional<TSchema>
        ? K
        : never]?: StaticOutput<P[K]>;
  }
>;

/** What a validator returns for `T`: like `Static<T>`, with every `Defaulted` property present. */
export type StaticOutput<T extends TSchema> =
  T extends TObject<infer P>
    ? OutputObject<P>
    : T extends TArray<infer I>
      ? StaticOutput<I>[]
      : T extends TUnion<infer U>
        ? { [K in keyof U]: StaticOutput<U[K]> }[number]
        : Static<T>;

export type DataResult<Out> = { success: true; data: Out } | { success: false; issues: DataIssue[] };

export interface DataValidatorOptions<T extends TSchema, Out> {
  /** Rules the schema cannot express, run on the value with its defaults; the first problem, located by path. */
  check?: (value: StaticOutput<T>) => DataIssue | undefined;
  /** Reshapes the checked value into what callers receive (e.g. one asset or a list of them → a list). */
  normalize?: (value: StaticOutput<T>) => Out;
}

export interface DataValidator<T extends TSchema = TSchema, Out = StaticOutput<T>> {
  /** The JSON Schema. */
  readonly schema: T;
  /** Whether `value` satisfies the schema (the compiled check alone: no defaults, no semantic checks). */
  is(value: unknown): value is Static<T>;
  /**
   * Schema, then defaults, then `check`, then `normalize`. The result shares no object with `value`, unless
   * `inPlace` (for a value that is the caller's own, e.g. just parsed from text): then the defaults are filled into
   * `value` itself, much faster for a large one. Problems come most relevant first: the schema's (all of them), or
   * the semantic check's first.
   */
  safeParse(value: unknown, options?: { inPlace?: boolean }): DataResult<Out>;
  /** `safeParse`, throwing a DataFileError (naming `source`, the field and the problem) when it fails. */
  parse(value: unknown, source?: string): Out;
}

/** Compiles `schema` (on first use) into a validator. */
export function dataValidator<T extends TSchema, Out = StaticOutput<T>>(
  schema: T,
  options: DataValidatorOptions<T, Out> = {},
): DataValidator<T, Out> {
  let compiled: { check: TypeCheck<T>; defaults: Plan } | undefined;
  const get = () => {
    compiled ??= { check: TypeCompiler.Compile(schema), defaults: plan(schema) };
    return compiled;
  };
  const safeParse = (value: unknown, { inPlace = false } = {}): DataResult<Out> => {
    const { check, defaults } = get();
    if (!check.Check(value)) return { success: false, issues: schemaIssues(check, value) };
    if (inPlace) defaults.fill?.(value);
    const full = (inPlace ? value : defaults.copy(value)) as StaticOutput<T>;
    const issue = options.check?.(full);
    if (issue) return { success: false, issues: [issue] };
    return { success: true, data: options.normalize ? options.normalize(full) : (full as Out) };
  };
  return {
    schema,
    is: (value): value is Static<T> => get().check.Check(value),
    safeParse,
    parse(value, source = 'value') {
      const result = safeParse(value);
      if (result.success) return result.data;
      const first = result.issues[0]!;
      throw new DataFileError(
        source,
        undefined,
        undefined,
        formatPath(first.path) || undefined,
        first.message + moreProblems(result.issues.length),
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Defaults, planned once per schema for a valid value: `copy` builds a copy with every absent `default` property
// filled in (every object and list new, a default too, so callers may change what they receive); `fill` (when
// anything below has a default) fills them into the value itself, visiting only the paths that can have one.

type Build = (value: unknown) => unknown;
type Fill = (value: unknown) => void;
interface Plan {
  copy: Build;
  fill: Fill | undefined;
}
const same: Build = (value) => value;

interface Shape {
  type?: unknown;
  const?: unknown;
  required?: string[];
  properties?: Record<string, TSchema>;
  patternProperties?: Record<string, TSchema>;
  additionalProperties?: unknown;
  items?: TSchema;
  anyOf?: TSchema[];
}

function plan(schema: TSchema): Plan {
  const s = schema as Shape;
  if (s.anyOf) return unionPlan(s.anyOf);
  if (s.type === 'array' && s.items) {
    const item = plan(s.items);
    const fillItem = item.fill;
    return {
      copy: item.copy === same ? (v) => (v as unknown[]).slice() : (v) => (v as unknown[]).map(item.copy),
      fill: fillItem && ((v) => (v as unknown[]).forEach(fillItem)),
    };
  }
  if (s.type === 'object' && s.properties) {
    const props = Object.entries(s.properties).map(([key, p]) => ({
      key,
      ...plan(p),
      hasDefault: 'default' in p,
      fallback: p.default as unknown,
    }));
    const known = new Set(props.map((p) => p.key));
    const keepOthers = s.additionalProperties !== false;
    const toFill = props.filter((p) => p.hasDefault || p.fill);
    return {
      copy: (value) => {
        const v = value as Record<string, unknown>;
        const out: Record<string, unknown> = {};
        for (const p of props) {
          const x = v[p.key];
          if (x !== undefined) out[p.key] = p.copy(x);
          else if (p.hasDefault) out[p.key] = p.copy(p.fallback);
        }
        if (keepOthers) for (const k of Object.keys(v)) if (!known.has(k)) out[k] = v[k];
        return out;
      },
      fill:
        toFill.length === 0
          ? undefined
          : (value) => {
              const v = value as Record<string, unknown>;
              for (const p of toFill) {
                const x = v[p.key];
                if (x === undefined) {
                  if (p.hasDefault) v[p.key] = p.copy(p.fallback);
                } else p.fill?.(x);
              }
            },
    };
  }
  if (s.type === 'object' && s.patternProperties) {
    const inner = Object.values(s.patternProperties)[0];
    const { copy, fill } = inner ? plan(inner) : { copy: same, fill: undefined };
    return {
      copy: (value) => {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(value as Record<string, unknown>)) out[k] = copy(x);
        return out;
      },
      fill: fill && ((value) => Object.values(value as Record<string, unknown>).forEach(fill)),
    };
  }
  return { copy: same, fill: undefined };
}

/** A union's plan follows the branch the value satisfies. */
function unionPlan(branches: TSchema[]): Plan {
  const plans = branches.map(plan);
  if (plans.every((p) => p.copy === same && !p.fill)) return { copy: same, fill: undefined };
  let checks: TypeCheck<TSchema>[] | undefined;
  const pick = (value: unknown): Plan | undefined => {
    // The value satisfies the union, so the branch it satisfies is among those its top level fits: when only one
    // fits, that is the branch, without checking the whole value again.
    const fitting = branches.flatMap((b, i) => (fitsTopLevel(b as Shape, value) ? [i] : []));
    if (fitting.length === 1) return plans[fitting[0]!];
    checks ??= branches.map((b) => TypeCompiler.Compile(b));
    const i = fitting.find((j) => checks![j]!.Check(value));
    return i === undefined ? undefined : plans[i];
  };
  return {
    copy: (value) => (pick(value)?.copy ?? same)(value),
    fill: plans.some((p) => p.fill) ? (value) => pick(value)?.fill?.(value) : undefined,
  };
}

/** Whether the top level of `value` fits a schema: its type, required and known keys, literal properties. */
function fitsTopLevel(s: Shape, value: unknown): boolean {
  if ('const' in s) return value === s.const;
  if (s.anyOf) return s.anyOf.some((b) => fitsTopLevel(b as Shape, value));
  switch (s.type) {
    case 'array':
      return Array.isArray(value);
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
      const v = value as Record<string, unknown>;
      const props = s.properties ?? {};
      if (s.required?.some((k) => v[k] === undefined)) return false;
      if (s.additionalProperties === false && Object.keys(v).some((k) => !(k in props))) return false;
      return Object.entries(props).every(
        ([k, p]) => !('const' in p) || v[k] === undefined || v[k] === (p as Shape).const,
      );
    }
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number';
    case 'integer':
      return Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    default:
      return true;
  }
}
