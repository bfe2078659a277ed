/** List queries: bounded pages, whitelisted sort keys, the same shape on every list route. */
import { badRequest } from '../errors.js';

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface PageQuery {
  limit?: number;
  offset?: number;
  sort?: string;
}

export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;

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
