/**
 * The typed client of the control-plane API for other Bulwark commands (`scan --push`; later the gateway and the
 * agent): bearer-token auth, JSON in and out with the contract's types, every failure one error naming the
 * server's message.
 */
import type { PutResult } from './assets.js';
import { MAX_ASSETS_PER_PUSH } from './schemas.js';

export class ApiClientError extends Error {
  override name = 'ApiClientError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface ApiClientOptions {
  baseUrl: string;
  token: string;
  timeoutMs?: number;
}

/** Assets per request: as many as the server accepts in one push. */
export const PUSH_BATCH = MAX_ASSETS_PER_PUSH;

export async function apiRequest<T>(
  options: ApiClientOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  let url: URL;
  try {
    url = new URL(path, options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  } catch {
    throw new ApiClientError(`server URL "${options.baseUrl}" is not a URL; give e.g. http://127.0.0.1:8440`);
  }
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${options.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new ApiClientError(`cannot reach the Bulwark server at ${url.origin} (${cause})`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const message = (json as { message?: string } | undefined)?.message ?? text.slice(0, 200);
    throw new ApiClientError(`${method} ${url.pathname}: ${res.status} ${message}`, res.status);
  }
  return json as T;
}

export interface PushSummary {
  created: number;
  updated: number;
  unchanged: number;
  findings_written: number;
}

/** Where pushed facts go: the tenant, where they came from, and whether they are observations to merge. */
export interface PushOptions {
  /** `?source=`: `scan` for `bulwark scan --push`. */
  source: string;
  /** `?merge=observed`: merged into existing assets' facts instead of replacing them (see docs/api.md). */
  merge?: boolean;
}

function assetsPath(tenant: string, push: PushOptions): string {
  const query = new URLSearchParams({ source: push.source, ...(push.merge ? { merge: 'observed' } : {}) });
  return `api/v1/tenants/${encodeURIComponent(tenant)}/assets?${query}`;
}

/** Registers assets from their facts in one tenant, in batches. */
export async function pushAssets(
  options: ApiClientOptions,
  tenant: string,
  assets: readonly unknown[],
  push: PushOptions | string,
): Promise<PushSummary> {
  const how = typeof push === 'string' ? { source: push } : push;
  const summary: PushSummary = { created: 0, updated: 0, unchanged: 0, findings_written: 0 };
  for (let i = 0; i < assets.length; i += PUSH_BATCH) {
    const res = await apiRequest<PutResult>(options, 'POST', assetsPath(tenant, how), {
      assets: assets.slice(i, i + PUSH_BATCH),
    });
    for (const r of res.results) summary[r.outcome]++;
    summary.findings_written += res.findings_written;
  }
  return summary;
}

/**
 * Checks, before any work, that a push to this tenant will be accepted: the token is valid, the tenant exists
 * and is in its scope, and its role may register assets. It sends the very request a push sends, with no assets
 * (which writes nothing), so no rule can differ between the check and the push. Throws ApiClientError (401, 403,
 * 404, or no status when the server cannot be reached).
 */
export async function checkPushAccess(
  options: ApiClientOptions,
  tenant: string,
  push: PushOptions,
): Promise<void> {
  await apiRequest(options, 'POST', assetsPath(tenant, push), { assets: [] });
}

/** Whether an asset exists in a tenant (false on 404; other failures throw). */
export async function assetExists(
  options: ApiClientOptions,
  tenant: string,
  asset: string,
): Promise<boolean> {
  try {
    await apiRequest(
      options,
      'GET',
      `api/v1/tenants/${encodeURIComponent(tenant)}/assets/${encodeURIComponent(asset)}`,
    );
    return true;
  } catch (err) {
    if (err instanceof ApiClientError && err.status === 404) return false;
    throw err;
  }
}
