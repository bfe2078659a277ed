/**
 * The console's calls to the Bulwark API on its own origin. The session is the httpOnly cookie the server sets at
 * sign-in; the CSRF token that state-changing calls send as `x-csrf-token` is kept in memory only (sign-in and
 * GET /api/v1/me hand it out), never in storage a script of another page could read.
 */

import {
  type BoardAssetsQuery,
  type BoardQuery,
  boardAssetsUrl,
  boardUrl,
  ME_URL,
  tenantUrl,
  withQuery,
} from '../api/console-requests.js';
import type { AssetExposure, TenantExposure } from '../api/exposure.js';
import type { FindingHistoryEntry } from '../api/findings.js';
import type { Job, JobPage } from '../api/jobs.js';
import type {
  Answer,
  AssetResponse,
  AssetResponseDetail,
  AssetStateFilter,
  Board,
  BoardAssets,
  BoardCounts,
  BoardSort,
  BoardTenant,
  ObservationSummary,
  ObservationWindow,
  StoredObservation,
} from '../api/response.js';
import type {
  Asset,
  AssetSummary,
  Finding,
  FindingStatusValue,
  RoleName,
  Site,
  Tenant,
  TokenInfo,
} from '../api/schemas.js';
import type { AuditRecord, AuditVerification } from '../api/system.js';

export type {
  Answer,
  Asset,
  AssetExposure,
  AssetResponse,
  AssetResponseDetail,
  AssetStateFilter,
  AssetSummary,
  AuditRecord,
  AuditVerification,
  Board,
  BoardAssets,
  BoardCounts,
  BoardSort,
  BoardTenant,
  Finding,
  FindingHistoryEntry,
  Job,
  JobPage,
  ObservationSummary,
  ObservationWindow,
  Site,
  StoredObservation,
  Tenant,
  TenantExposure,
  TokenInfo,
};

export const CSRF_HEADER = 'x-csrf-token';

/** An answer other than 2xx: the server's error code and its message, which names the field and the fix. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface User {
  id: string;
  email: string;
  name: string;
  role: string;
  tenant_id: string | null;
  totp_enabled: boolean;
  disabled: boolean;
  created_at: string;
}

export interface Me {
  user: User;
  via: string;
  role: string;
  tenant: string | null;
  /** What the principal may do, as the server checks it: `read`, `write`, `admin`. */
  permissions: string[];
  csrf_token?: string;
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** A keyset-paged list's page: the cursors of the pages after and before it (null: none). */
export interface CursorPage<T> extends Page<T> {
  next_cursor: string | null;
  prev_cursor: string | null;
}

/** Step one of a bulk status change: the match count and the confirmation to commit with. */
export interface BulkPreview {
  matches: number;
  already: number;
  token: string;
  expires_at: string;
}

/** Which findings of a tenant a bulk change selects; `all: true` alone for every finding. */
export interface BulkFilter {
  advisory?: string;
  cve?: string;
  verdict?: string;
  status?: string;
  asset_q?: string;
  all?: true;
}

export interface AdvisorySummary {
  id: string;
  title: string;
  cves: string[];
  products: string[];
  published: string | null;
  kev: boolean;
}

let csrfToken: string | undefined;
const expiredListeners = new Set<() => void>();

/** Called when a signed-in call answers 401: the session ended (expired, signed out elsewhere, password changed). */
export function onSessionExpired(listener: () => void): () => void {
  expiredListeners.add(listener);
  return () => expiredListeners.delete(listener);
}

const TIMEOUT_MS = 30_000;

export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  quiet401 = false,
  extraHeaders: Record<string, string> = {},
): Promise<T> {
  const headers: Record<string, string> = { ...extraHeaders, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers[CSRF_HEADER] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
    throw new ApiError(
      0,
      timedOut ? 'timeout' : 'network',
      timedOut
        ? `the server did not answer within ${TIMEOUT_MS / 1000} s`
        : 'the server cannot be reached; check the connection and try again',
    );
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const e = (parsed ?? {}) as { error?: unknown; message?: unknown };
    const error = new ApiError(
      res.status,
      typeof e.error === 'string' ? e.error : `http_${res.status}`,
      typeof e.message === 'string' ? e.message : `the server answered ${res.status} ${res.statusText}`,
    );
    if (res.status === 401 && !quiet401) for (const listener of expiredListeners) listener();
    throw error;
  }
  return parsed as T;
}

export { withQuery };

/** One path segment (an id from the URL or the API), encoded. */
const seg = (s: string) => encodeURIComponent(s);

export const api = {
  /** The signed-in user, or undefined when there is no session. */
  async me(): Promise<Me | undefined> {
    try {
      const me = await call<Me>('GET', ME_URL, undefined, true);
      csrfToken = me.csrf_token;
      return me;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return undefined;
      throw err;
    }
  },

  async signIn(input: { email: string; password: string; code?: string }): Promise<User> {
    const res = await call<{ user: User; csrf_token: string; expires_at: string }>(
      'POST',
      '/api/v1/session',
      input,
      true,
    );
    csrfToken = res.csrf_token;
    return res.user;
  },

  async signOut(): Promise<void> {
    try {
      await call<void>('DELETE', '/api/v1/session', undefined, true);
    } finally {
      csrfToken = undefined;
    }
  },

  setup(input: { token: string; email: string; name: string; password: string }): Promise<User> {
    return call<User>('POST', '/api/v1/setup', input, true);
  },

  async changePassword(input: { current_password: string; new_password: string }): Promise<void> {
    // The server ends every session of the user, this one included.
    await call<void>('POST', '/api/v1/me/password', input);
    csrfToken = undefined;
  },

  startTotp(): Promise<{ secret: string; uri: string }> {
    return call('POST', '/api/v1/me/totp');
  },

  confirmTotp(code: string): Promise<void> {
    return call('POST', '/api/v1/me/totp/confirm', { code });
  },

  advisories(query: { q?: string; limit: number; offset: number }): Promise<Page<AdvisorySummary>> {
    const params = new URLSearchParams({ limit: String(query.limit), offset: String(query.offset) });
    if (query.q) params.set('q', query.q);
    return call('GET', `/api/v1/advisories?${params}`);
  },

  tenants(query: { q?: string; limit: number; offset: number }): Promise<Page<Tenant>> {
    return call('GET', withQuery('/api/v1/tenants', query));
  },
  tenant(id: string): Promise<Tenant> {
    return call('GET', tenantUrl(id));
  },
  createTenant(input: { id: string; name: string }): Promise<Tenant> {
    return call('POST', '/api/v1/tenants', input);
  },
  sites(tenant: string): Promise<Site[]> {
    return call('GET', `/api/v1/tenants/${seg(tenant)}/sites`);
  },
  createSite(tenant: string, input: { id: string; name: string }): Promise<Site> {
    return call('POST', `/api/v1/tenants/${seg(tenant)}/sites`, input);
  },

  assets(
    tenant: string,
    query: AssetQuery & { limit: number; cursor?: string },
  ): Promise<CursorPage<AssetSummary>> {
    return call('GET', withQuery(`/api/v1/tenants/${seg(tenant)}/assets`, { ...query }));
  },
  asset(tenant: string, id: string): Promise<Asset> {
    return call('GET', `/api/v1/tenants/${seg(tenant)}/assets/${seg(id)}`);
  },
  tenantExposure(tenant: string): Promise<TenantExposure> {
    return call('GET', `/api/v1/tenants/${seg(tenant)}/exposure`);
  },
  assetExposure(tenant: string, id: string): Promise<AssetExposure> {
    return call('GET', `/api/v1/tenants/${seg(tenant)}/assets/${seg(id)}/exposure`);
  },
  findingHistory(tenant: string, asset: string, cve: string): Promise<FindingHistoryEntry[]> {
    return call('GET', `/api/v1/tenants/${seg(tenant)}/assets/${seg(asset)}/findings/${seg(cve)}/history`);
  },
  setFindingStatus(
    tenant: string,
    asset: string,
    cve: string,
    input: { status: FindingStatusValue; reason: string },
    /** The finding's etag as it was shown: the change applies only if it is unchanged (else 412). */
    ifMatch?: string,
  ): Promise<Finding> {
    return call(
      'PATCH',
      `/api/v1/tenants/${seg(tenant)}/assets/${seg(asset)}/findings/${seg(cve)}`,
      input,
      false,
      ifMatch ? { 'if-match': `"${ifMatch}"` } : {},
    );
  },
  previewBulkStatus(
    tenant: string,
    input: { filter: BulkFilter; status: FindingStatusValue; reason: string },
  ): Promise<BulkPreview> {
    return call('POST', `/api/v1/tenants/${seg(tenant)}/findings/bulk/preview`, input);
  },
  commitBulkStatus(
    tenant: string,
    token: string,
  ): Promise<{ matches: number; changed: number; status: string }> {
    return call('POST', `/api/v1/tenants/${seg(tenant)}/findings/bulk/commit`, { token });
  },

  users(query: { limit: number; offset: number }): Promise<Page<User>> {
    return call('GET', withQuery('/api/v1/users', { ...query, sort: 'email' }));
  },
  createUser(input: {
    email: string;
    name: string;
    password: string;
    role: RoleName;
    tenant_id?: string | null;
  }): Promise<User> {
    return call('POST', '/api/v1/users', input);
  },
  tokens(): Promise<TokenInfo[]> {
    return call('GET', '/api/v1/tokens');
  },
  createToken(input: {
    name: string;
    role?: RoleName;
    tenant_id?: string | null;
    expires_in_days?: number;
  }): Promise<{ token: string; info: TokenInfo }> {
    return call('POST', '/api/v1/tokens', input);
  },
  revokeToken(id: string): Promise<void> {
    return call('DELETE', `/api/v1/tokens/${seg(id)}`);
  },

  audit(query: { limit: number; cursor?: string }): Promise<CursorPage<AuditRecord>> {
    return call('GET', withQuery('/api/v1/audit', { ...query, sort: '-seq' }));
  },
  verifyAudit(): Promise<AuditVerification> {
    return call('GET', '/api/v1/audit/verify');
  },

  jobs(query: { limit: number; after?: string; state?: string; kind?: string }): Promise<JobPage> {
    return call('GET', withQuery('/api/v1/jobs', query));
  },
  job(id: string): Promise<Job> {
    return call('GET', `/api/v1/jobs/${seg(id)}`);
  },
  cancelJob(id: string): Promise<Job> {
    return call('POST', `/api/v1/jobs/${seg(id)}/cancel`);
  },

  board(advisory: string, query: BoardQuery): Promise<Board> {
    return call('GET', boardUrl(advisory, query));
  },
  /** A request URL the page built with console-requests.ts (the ones the server may have preloaded). */
  get<T>(url: string): Promise<T> {
    return call('GET', url);
  },
  boardAssets(advisory: string, tenant: string, query: BoardAssetsQuery): Promise<BoardAssets> {
    return call('GET', boardAssetsUrl(advisory, tenant, query));
  },
  assetResponse(tenant: string, asset: string, advisory?: string): Promise<AssetResponseDetail> {
    return call(
      'GET',
      withQuery(`/api/v1/tenants/${seg(tenant)}/assets/${seg(asset)}/response`, { advisory }),
    );
  },
};

/** The filters of a tenant's asset list. */
export interface AssetQuery {
  q?: string;
  site?: string;
  product?: string;
  advisory?: string;
  verdict?: string;
}

/** The message to show for a failed call. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** One advisory as GET /api/v1/advisories/:id answers it (the Bulwark advisory model; fields read by the console). */
export interface AdvisoryDetail {
  id: string;
  title: string;
  summary?: string;
  published?: string | null;
  cves?: { id: string; title?: string; cvss?: { score?: number }; kev?: object | null }[];
  affected?: {
    product: string;
    cves?: string[];
    ranges?: { train?: string; introduced?: string; fixed?: string; last_affected?: string }[];
    versions?: string[];
    fixed_versions?: string[];
    default_status?: string;
  }[];
  references?: { url: string; title?: string }[];
}

/** The content type of an advisory file, by its name: JSON, YAML or XML (CVRF); undefined for anything else. */
export function advisoryContentType(fileName: string): string | undefined {
  const ext = /\.([a-z]+)$/i.exec(fileName)?.[1]?.toLowerCase();
  if (ext === 'json') return 'application/json';
  if (ext === 'yaml' || ext === 'yml') return 'application/yaml';
  if (ext === 'xml') return 'application/xml';
  return undefined;
}

/** The file types the import accepts, for a file input's `accept`. */
export const ADVISORY_FILE_ACCEPT = '.json,.yaml,.yml,.xml,application/json,application/yaml,application/xml';

export const advisoryApi = {
  advisory(id: string): Promise<AdvisoryDetail> {
    return call('GET', `/api/v1/advisories/${seg(id)}`);
  },

  /**
   * Sends an advisory file as it is (text with its content type) to POST /api/v1/advisories/import; the answer is
   * the recompute job. A refused file throws the server's 400 with its message naming the line or field.
   */
  async importAdvisory(text: string, contentType: string, idempotencyKey?: string): Promise<Job> {
    const headers: Record<string, string> = { accept: 'application/json', 'content-type': contentType };
    if (csrfToken) headers[CSRF_HEADER] = csrfToken;
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    let res: Response;
    try {
      res = await fetch('/api/v1/advisories/import', {
        method: 'POST',
        headers,
        credentials: 'same-origin',
        body: text,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch {
      throw new ApiError(0, 'network', 'the server cannot be reached; check the connection and try again');
    }
    const body = await res.text();
    let parsed: { error?: unknown; message?: unknown } | undefined;
    try {
      parsed = body ? JSON.parse(body) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      if (res.status === 401) for (const listener of expiredListeners) listener();
      throw new ApiError(
        res.status,
        typeof parsed?.error === 'string' ? parsed.error : `http_${res.status}`,
        typeof parsed?.message === 'string'
          ? parsed.message
          : `the server answered ${res.status} ${res.statusText}`,
      );
    }
    return parsed as unknown as Job;
  },
};
