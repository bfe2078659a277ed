/**
 * A small client of the control-plane API for other Bulwark commands (`scan --push`; later the gateway and the
 * agent): bearer-token auth, JSON in and out, every failure one error naming the server's message.
 */
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

/** Assets per request; the server accepts up to 1,000. */
export const PUSH_BATCH = 1000;

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

/** Registers assets from their facts in one tenant, in batches. */
export async function pushAssets(
  options: ApiClientOptions,
  tenant: string,
  assets: readonly unknown[],
  source: string,
): Promise<PushSummary> {
  const summary: PushSummary = { created: 0, updated: 0, unchanged: 0, findings_written: 0 };
  for (let i = 0; i < assets.length; i += PUSH_BATCH) {
    const res = await apiRequest<{ results: { outcome: keyof PushSummary }[]; findings_written: number }>(
      options,
      'POST',
      `api/v1/tenants/${encodeURIComponent(tenant)}/assets?source=${encodeURIComponent(source)}`,
      { assets: assets.slice(i, i + PUSH_BATCH) },
    );
    for (const r of res.results) summary[r.outcome]++;
    summary.findings_written += res.findings_written;
  }
  return summary;
}
