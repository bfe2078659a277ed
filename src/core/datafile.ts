/**
 * Parsing of user-editable data files (YAML or JSON) against a schema, with errors that name the file, line,
 * column and field, so a person can fix the file without reading a stack trace. Pure: callers read the bytes.
 *
 * One schema library for data files and the API: TypeBox, i.e. JSON Schema (see schema.ts). Fastify validates
 * the same schemas natively (compiled ajv) and generates the OpenAPI description from them, external clients can
 * use them, and a compiled validator checks a facts file of 100,000 assets in a fraction of the time JSON.parse
 * takes. Data files are checked with TypeBox's own compiler rather than ajv: it ships with TypeBox (no second
 * engine to configure), its check narrows to the schema's type, and its errors keep each union branch apart, so a
 * message names the field the file meant.
 */

import type { TSchema } from '@sinclair/typebox';
import { isMap, isPair, isScalar, LineCounter, type Node, parseDocument } from 'yaml';
import type { DataValidator } from './schema.js';

/** Bigger than any real facts file of 100,000 assets; anything larger is a mistake or an attack. */
export const MAX_DATA_FILE_BYTES = 256 * 1024 * 1024;
const FAST_JSON_BYTES = 1024 * 1024;

export class DataFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly column: number | undefined,
    readonly field: string | undefined,
    readonly detail: string,
  ) {
    const where = line === undefined ? file : `${file}:${line}:${column ?? 1}`;
    super(`${where}: ${field ? `${field}: ` : ''}${detail}`);
    this.name = 'DataFileError';
  }
}

/** `['cves', 0, 'kev', 'due_date']` → `cves[0].kev.due_date` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** " (and 2 more problems)" after the first of `count` problems. */
export function moreProblems(count: number): string {
  return count > 1 ? ` (and ${count - 1} more problem${count > 2 ? 's' : ''})` : '';
}

/** A problem in a value, located by path: a schema's, or a semantic check's (e.g. a version its scheme rejects). */
export interface DataIssue {
  path: readonly PropertyKey[];
  message: string;
}

/**
 * Parses `text` and validates it with `schema` (defaults filled in, its own semantic checks and normalisation
 * applied); `check` may add validation that needs the file's context, its issues located like schema errors.
 * Throws DataFileError, never anything else, for any input.
 */
export function parseDataText<Out>(
  text: string,
  file: string,
  schema: DataValidator<TSchema, Out>,
  check?: (value: Out) => DataIssue | undefined,
): Out {
  if (text.length > MAX_DATA_FILE_BYTES) {
    throw new DataFileError(
      file,
      undefined,
      undefined,
      undefined,
      `file is larger than ${MAX_DATA_FILE_BYTES} bytes`,
    );
  }
  // Fast path for large JSON (fact files of 100,000 assets): positions are only needed when something is wrong.
  // Small files always take the full path, which also rejects duplicate keys.
  const trimmed = text.length > FAST_JSON_BYTES ? text.trimStart().replace(/^\uFEFF/, '') : '';
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch {
      json = undefined;
    }
    if (json !== undefined) {
      const fast = schema.safeParse(json, { inPlace: true });
      if (fast.success && !check?.(fast.data)) return fast.data;
    }
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text.replace(/^\uFEFF/, ''), {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
  });
  const position = (offset: number | undefined) => {
    if (offset === undefined) return { line: undefined, column: undefined };
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const syntax = doc.errors[0];
  if (syntax) {
    const { line, column } = position(syntax.pos[0]);
    const message = syntax.message.split('\n')[0] ?? syntax.message;
    throw new DataFileError(file, line, column, undefined, `not valid YAML/JSON: ${message}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new DataFileError(file, undefined, undefined, undefined, `cannot read: ${(err as Error).message}`);
  }
  const result = schema.safeParse(value, { inPlace: true });
  const issues = result.success ? [check?.(result.data)].filter((i) => i !== undefined) : result.issues;
  if (result.success && issues.length === 0) return result.data;
  const first = issues[0]!;
  const node = nearestNode(doc.contents as Node | null, first.path);
  const { line, column } = position(node?.range?.[0]);
  throw new DataFileError(
    file,
    line,
    column,
    formatPath(first.path) || undefined,
    first.message + moreProblems(issues.length),
  );
}

/** The YAML node for a path, or its deepest existing ancestor; for an unknown key, the key itself. */
function nearestNode(root: Node | null, path: readonly PropertyKey[]): Node | undefined {
  let cur: Node | null | undefined = root;
  let found: Node | undefined = root ?? undefined;
  for (const key of path) {
    if (!cur || isScalar(cur)) break;
    if (isMap(cur)) {
      const pair: unknown = cur.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key),
      );
      if (!isPair(pair)) break;
      cur = (pair.value as Node | null) ?? (pair.key as Node);
      found = cur;
      continue;
    }
    const items: unknown[] | undefined = (cur as { items?: unknown[] }).items;
    const item: Node | undefined =
      typeof key === 'number' && items ? (items[key] as Node | undefined) : undefined;
    if (!item) break;
    cur = item;
    found = item;
  }
  return found;
}
