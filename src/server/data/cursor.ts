/**
 * Keyset paging. A cursor is opaque to clients: base64url of the list's sort, a digest of its filters, a direction
 * (the rows after or before a key) and the sort key of the row it continues from. A page reads from that key on
 * (an index range where the sort has an index), never counting rows from the start as an offset does. A cursor
 * that is not one a list gave out, or was given out for another sort or other filters, is a 400 naming `cursor`;
 * so is a key no stored row can have (text with U+0000, which PostgreSQL cannot take; an integer outside the
 * 32-bit range of an `integer` column, which PostgreSQL refuses to compare with).
 */
import { createHash } from 'node:crypto';
import { type Expression, type RawBuilder, sql } from 'kysely';
import { badRequest } from '../errors.js';

export type KeyValue = string | number;

export interface Cursor {
  direction: 'after' | 'before';
  key: KeyValue[];
}

/** What a list's cursors are bound to: the sort as asked (`name`, `-updated_at`) and the filters. */
export interface CursorScope {
  sort: string;
  filters: Record<string, unknown>;
  /**
   * The type of each part of the sort key (the sort column, then the unique column that breaks ties); `integer` is
   * a 32-bit `integer` column.
   */
  keyTypes: readonly ('string' | 'integer')[];
}

const VERSION = 1;
/** The largest `integer` key: PostgreSQL's `integer` is 32 bits. */
const MAX_INTEGER_KEY = 2 ** 31 - 1;

function filterDigest(filters: Record<string, unknown>): string {
  const defined = Object.entries(filters)
    .filter(([, v]) => v !== undefined && v !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(defined)).digest('base64url').slice(0, 12);
}

export function encodeCursor(scope: CursorScope, cursor: Cursor): string {
  const body = [
    VERSION,
    scope.sort,
    filterDigest(scope.filters),
    cursor.direction === 'after' ? 'a' : 'b',
    cursor.key,
  ];
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

/** The cursor a client sent, checked against the list it is used on; throws a 400 naming `cursor`. */
export function decodeCursor(raw: string, scope: CursorScope): Cursor {
  const bad = (why: string) =>
    badRequest(`cursor: ${why}; leave cursor out to start again from the first page`);
  const notOurs = () => bad('is not a cursor this list gave out');
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(raw)) throw notOurs();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw notOurs();
  }
  if (!Array.isArray(parsed) || parsed.length !== 5 || parsed[0] !== VERSION) throw notOurs();
  const [, sort, filters, direction, key] = parsed as unknown[];
  if (typeof sort !== 'string' || typeof filters !== 'string' || (direction !== 'a' && direction !== 'b'))
    throw notOurs();
  if (
    !Array.isArray(key) ||
    key.length !== scope.keyTypes.length ||
    key.some((v, i) =>
      scope.keyTypes[i] === 'integer'
        ? !Number.isInteger(v) || Math.abs(v as number) > MAX_INTEGER_KEY
        : typeof v !== 'string' || v.length > 1000 || v.includes('\u0000'),
    )
  )
    throw notOurs();
  if (sort !== scope.sort) throw bad(`was given out for sort=${sort}, not sort=${scope.sort}`);
  if (filters !== filterDigest(scope.filters)) throw bad('was given out for other filters');
  return { direction: direction === 'a' ? 'after' : 'before', key: key as KeyValue[] };
}

export interface KeysetPage<Row> {
  rows: Row[];
  next_cursor: string | null;
  prev_cursor: string | null;
}

/**
 * One page of a list by keyset. `fetch` runs the list's query with the extra condition (rows past the cursor's
 * key), the order (every key expression in that direction), a limit and an offset; `keys` are the sort key's
 * expressions in order, the last one unique. Without a cursor it is the page at `offset`. Going back from a
 * cursor to the start of the list answers the first page (a full one).
 */
export async function keysetPage<Row>(p: {
  scope: CursorScope;
  cursor: string | undefined;
  offset: number;
  limit: number;
  direction: 'asc' | 'desc';
  keys: readonly Expression<unknown>[];
  keyOf: (row: Row) => KeyValue[];
  fetch: (
    where: RawBuilder<boolean> | undefined,
    direction: 'asc' | 'desc',
    limit: number,
    offset: number,
  ) => Promise<Row[]>;
}): Promise<KeysetPage<Row>> {
  const make = (direction: Cursor['direction'], row: Row) =>
    encodeCursor(p.scope, { direction, key: p.keyOf(row) });
  const cursor = p.cursor === undefined ? undefined : decodeCursor(p.cursor, p.scope);
  if (cursor && p.offset > 0) throw badRequest('offset: leave it out when paging with cursor');
  if (!cursor) {
    const rows = await p.fetch(undefined, p.direction, p.limit + 1, p.offset);
    const more = rows.length > p.limit;
    const page = rows.slice(0, p.limit);
    return {
      rows: page,
      next_cursor: more ? make('after', page[page.length - 1]!) : null,
      prev_cursor: p.offset > 0 && page.length ? make('before', page[0]!) : null,
    };
  }
  const backwards = cursor.direction === 'before';
  const ascending = (p.direction === 'asc') !== backwards;
  const where = sql<boolean>`(${sql.join(p.keys)}) ${sql.raw(ascending ? '>' : '<')} (${sql.join(cursor.key)})`;
  const rows = await p.fetch(where, ascending ? 'asc' : 'desc', p.limit + 1, 0);
  const more = rows.length > p.limit;
  const page = rows.slice(0, p.limit);
  if (backwards) {
    // Nothing further back: the start of the list, as a full first page.
    if (!more) return keysetPage({ ...p, cursor: undefined, offset: 0 });
    page.reverse();
    return {
      rows: page,
      next_cursor: make('after', page[page.length - 1]!),
      prev_cursor: make('before', page[0]!),
    };
  }
  return {
    rows: page,
    next_cursor: more ? make('after', page[page.length - 1]!) : null,
    prev_cursor: page.length
      ? make('before', page[0]!)
      : encodeCursor(p.scope, { direction: 'before', key: cursor.key }),
  };
}
