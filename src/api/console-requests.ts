/**
 * The console's first API requests, known from a console URL alone: GET /api/v1/me on every page behind sign-in,
 * and the first data requests of the pages that open most (the response board and one customer's part of it).
 *
 * The server names them in the page it serves (`<link rel="preload" as="fetch">`, src/server/web.ts), so the
 * browser fetches them while it loads the scripts. The console builds the same requests with these functions, so
 * the URLs are equal byte for byte and the browser hands the page the preloaded answers instead of asking again.
 * Plain functions without dependencies: the server and the console's bundle both import this file.
 */

import type { AssetStateFilter, BoardSort } from './response.js';

export const ME_URL = '/api/v1/me';

/** Rows per page of the board's customer table and of a customer's asset table. */
export const BOARD_PAGE_SIZE = 50;
/** How many board rows the customer page asks for to find its own row by the customer's id. */
export const BOARD_ROW_LIMIT = 100;

/**
 * The orders of the board's customer table, the first the default: the API's BOARD_SORTS (response.ts, which this
 * file does not import at run time: it would bring TypeBox into the console's bundle; a test keeps them equal).
 */
export const CONSOLE_BOARD_SORTS: readonly BoardSort[] = [
  'worst',
  'name',
  'exposed',
  'compromised',
  'patched',
];

/** The state filters of a customer's asset table: the API's ASSET_STATE_FILTERS (a test keeps them equal). */
export const CONSOLE_ASSET_STATES: readonly AssetStateFilter[] = [
  'compromised',
  'unshielded',
  'exposed',
  'shielded',
  'patched',
  'unknown',
];

export type Query = Record<string, string | number | undefined>;

/** `path?query` with the empty and undefined values left out, in the order of `query`'s keys. */
export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `${path}?${s}` : path;
}

/** One path segment (an id from the URL or the API), encoded. */
const seg = (s: string) => encodeURIComponent(s);

/**
 * `pattern` (e.g. `/tenants/:tenant/assets/:asset`) against a path: the decoded parameters, or undefined when the
 * path has another shape. A parameter matches one non-empty segment.
 */
export function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const have = path.split('/');
  if (want.length !== have.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] ?? '';
    const h = have[i] ?? '';
    if (w.startsWith(':')) {
      if (!h) return undefined;
      try {
        params[w.slice(1)] = decodeURIComponent(h);
      } catch {
        return undefined;
      }
    } else if (w !== h) return undefined;
  }
  return params;
}

export interface BoardQuery {
  q?: string;
  sort?: BoardSort;
  limit?: number;
  cursor?: string;
}

export const boardUrl = (advisory: string, query: BoardQuery): string =>
  withQuery(`/api/v1/advisories/${seg(advisory)}/board`, {
    q: query.q,
    sort: query.sort,
    limit: query.limit,
    cursor: query.cursor,
  });

export interface BoardAssetsQuery {
  state?: AssetStateFilter;
  q?: string;
  limit?: number;
  cursor?: string;
}

export const boardAssetsUrl = (advisory: string, tenant: string, query: BoardAssetsQuery): string =>
  withQuery(`/api/v1/advisories/${seg(advisory)}/board/tenants/${seg(tenant)}/assets`, {
    state: query.state,
    q: query.q,
    limit: query.limit,
    cursor: query.cursor,
  });

export const tenantUrl = (tenant: string): string => `/api/v1/tenants/${seg(tenant)}`;

/** The board page's own query (`/advisories/:advisory/board?q=&sort=&cursor=`): unknown orders read as the default. */
export function boardPageQuery(query: URLSearchParams): { q: string; sort: BoardSort; cursor: string } {
  const raw = query.get('sort');
  const sort = CONSOLE_BOARD_SORTS.find((s) => s === raw) ?? 'worst';
  return { q: query.get('q')?.trim() ?? '', sort, cursor: query.get('cursor') ?? '' };
}

/** The board page's request for its URL's query. */
export function boardPageRequest(advisory: string, query: URLSearchParams): string {
  const { q, sort, cursor } = boardPageQuery(query);
  return boardUrl(advisory, { q, sort, limit: BOARD_PAGE_SIZE, ...(cursor ? { cursor } : {}) });
}

/** A customer's board page's own query (`…/board/:tenant?state=&q=&cursor=`): an unknown state reads as none. */
export function boardTenantPageQuery(query: URLSearchParams): {
  state: AssetStateFilter | undefined;
  q: string;
  cursor: string;
} {
  const raw = query.get('state');
  return {
    state: CONSOLE_ASSET_STATES.find((s) => s === raw),
    q: query.get('q')?.trim() ?? '',
    cursor: query.get('cursor') ?? '',
  };
}

/** The customer's board page's requests: the customer, its page of assets, and the board row with its numbers. */
export function boardTenantPageRequests(
  advisory: string,
  tenant: string,
  query: URLSearchParams,
): { tenant: string; assets: string; row: string } {
  const { state, q, cursor } = boardTenantPageQuery(query);
  return {
    tenant: tenantUrl(tenant),
    assets: boardAssetsUrl(advisory, tenant, {
      state,
      q,
      limit: BOARD_PAGE_SIZE,
      ...(cursor ? { cursor } : {}),
    }),
    // The filter matches the customer's id; more customers may match, the page picks its own row.
    row: boardUrl(advisory, { q: tenant, limit: BOARD_ROW_LIMIT }),
  };
}

/** Console pages open without a session; they make no request the server could start for them. */
export const PUBLIC_CONSOLE_PATHS: readonly string[] = ['/setup', '/sign-in'];

/**
 * The API requests a signed-in user's browser makes first for the console URL `path` (undecoded, as the browser
 * sends it) with `query`: GET /api/v1/me, then the page's data requests where the page is one of the board's.
 * Nothing for the public pages.
 */
export function firstRequests(path: string, query: URLSearchParams): string[] {
  if (PUBLIC_CONSOLE_PATHS.includes(path)) return [];
  const board = matchPath('/advisories/:advisory/board', path);
  if (board) return [ME_URL, boardPageRequest(board.advisory ?? '', query)];
  const tenant = matchPath('/advisories/:advisory/board/:tenant', path);
  if (tenant) {
    const r = boardTenantPageRequests(tenant.advisory ?? '', tenant.tenant ?? '', query);
    return [ME_URL, r.tenant, r.assets, r.row];
  }
  return [ME_URL];
}
