/** List queries: bounded pages, whitelisted sort keys, the same shape on every list route. */
import { type CursorPage, DEFAULT_LIMIT, MAX_LIMIT, type Page } from '../../api/index.js';
import { badRequest } from '../errors.js';

export { type CursorPage, DEFAULT_LIMIT, MAX_LIMIT, type Page };

export interface PageQuery {
  limit?: number;
  offset?: number;
  sort?: string;
}

export function pageBounds(q: PageQuery): { limit: number; offset: number } {
  return { limit: Math.min(q.limit ?? DEFAULT_LIMIT, MAX_LIMIT), offset: q.offset ?? 0 };
}

/** `sort=name` or `sort=-updated_at` against the columns a list allows; the default when absent. */
export function sortOrder<C extends string>(
  sort: string | undefined,
  allowed: readonly C[],
  fallback: C,
): { column: C; direction: 'asc' | 'desc' } {
  if (!sort) return { column: fallback, direction: 'asc' };
  const direction = sort.startsWith('-') ? 'desc' : 'asc';
  const column = sort.replace(/^[-+]/, '') as C;
  if (!allowed.includes(column)) {
    throw badRequest(
      `sort: "${column}" is not sortable here; use one of ${allowed.join(', ')} (prefix - for descending)`,
    );
  }
  return { column, direction };
}
