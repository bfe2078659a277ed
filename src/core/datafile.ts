/**
 * Parsing of user-editable data files (YAML or JSON) against a schema, with errors that name the file, line,
 * column and field, so a person can fix the file without reading a stack trace. Pure: callers read the bytes.
 */
import { isMap, isPair, isScalar, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';

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

/** A problem found after the schema passed (e.g. a version its scheme rejects), located by path. */
export interface DataIssue {
  path: readonly PropertyKey[];
  message: string;
}

/**
 * Parses and validates `text`; `check` may add semantic validation whose issues are located like schema errors.
 * Throws DataFileError, never anything else, for any input.
 */
export function parseDataText<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
  check?: (value: z.infer<S>) => DataIssue | undefined,
): z.infer<S> {
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
      const fast = schema.safeParse(json);
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
  const result = schema.safeParse(value);
  if (result.success) {
    const issue = check?.(result.data);
    if (!issue) return result.data;
    const { line, column } = position(nearestNode(doc.contents as Node | null, issue.path)?.range?.[0]);
    throw new DataFileError(file, line, column, formatPath(issue.path) || undefined, issue.message);
  }

  const issues = result.error.issues;
  const first = issues[0]!;
  const path = [...first.path];
  let detail = first.message;
  if (first.code === 'unrecognized_keys') {
    const key = first.keys[0]!;
    path.push(key);
    detail = `unknown field "${key}" (check its spelling or remove it)`;
  } else if (first.code === 'invalid_type' && valueAt(value, path) === undefined) {
    detail = 'required field is missing';
  }
  const node = nearestNode(doc.contents as Node | null, path);
  const { line, column } = position(node?.range?.[0]);
  const more =
    issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  throw new DataFileError(file, line, column, formatPath(path) || undefined, detail + more);
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let cur = value;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
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
