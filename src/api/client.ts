/**
 * The typed client of the control-plane API for other Bulwark commands (`scan --push`, `jobs`, `advisories import
 * --server`; later the gateway and the agent): bearer-token auth, JSON in and out with the contract's types, every
 * failure one error naming the server's message.
 */

import type { Me } from './accounts.js';
import type { ImportFormat } from './advisories.js';
import type {
  Agent,
  AgentFanOutBody,
  AgentJob,
  AgentJobCreate,
  AgentJobCreated,
  AgentJobListQuery,
  AgentJobPage,
  AgentListQuery,
  AgentPage,
  AgentToken,
  AgentTokenCreate,
  AgentTokenCreated,
  AgentTokenList,
  EnrollBody,
  EnrollResult,
} from './agents.js';
import type { AssetListQuery, AssetPage, PutResult } from './assets.js';
import { EventStreamError, followEvents } from './event-stream.js';
import type { BulkCommitResult, BulkPreview, BulkPreviewBody, FindingStatusChange } from './findings.js';
import type { InventoryUploadBody, InventoryUploadResult } from './inventory.js';
import { FINISHED_JOB_STATES, type Job, type JobListQuery, type JobPage } from './jobs.js';
import {
  type AssetResponseDetail,
  type Board,
  type BoardAssets,
  type BoardAssetsQuery,
  type BoardQuery,
  type HuntReportsBody,
  type HuntReportsResult,
  MAX_OBSERVATIONS_PER_REQUEST,
  type Observation,
  type ObservationsResult,
} from './response.js';
import { type Finding, MAX_ASSETS_PER_PUSH } from './schemas.js';
import type { AuditPage, AuditQuery } from './system.js';

export { EventStreamError, type EventStreamOptions, followEvents, SseParser } from './event-stream.js';

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
  return (await apiExchange<T>(options, method, path, body === undefined ? {} : { json: body })).body;
}

/** A request body: JSON, or text sent as it is with its content type (an advisory document). */
export interface RequestBody {
  json?: unknown;
  text?: { body: string; contentType: string };
  headers?: Record<string, string>;
}

/** The status, headers and JSON body of a successful answer; any other status throws ApiClientError. */
export async function apiExchange<T>(
  options: ApiClientOptions,
  method: string,
  path: string,
  request: RequestBody = {},
): Promise<{ status: number; headers: Headers; body: T }> {
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
        ...request.headers,
        // Public routes (agent enrolment) are called without a token.
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(request.json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(request.text ? { 'content-type': request.text.contentType } : {}),
      },
      body: request.json !== undefined ? JSON.stringify(request.json) : request.text?.body,
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
  return { status: res.status, headers: res.headers, body: json as T };
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

/**
 * Uploads one machine's full inventory as an RMM script does (`POST /api/v1/tenants/{t}/inventory`): the Windows
 * collector's document under `asset_id`, or facts. Replaces that asset's facts with source `rmm`.
 */
export async function uploadInventory(
  options: ApiClientOptions,
  tenant: string,
  body: InventoryUploadBody,
): Promise<InventoryUploadResult> {
  return apiRequest<InventoryUploadResult>(
    options,
    'POST',
    `api/v1/tenants/${encodeURIComponent(tenant)}/inventory`,
    body,
  );
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

// --- response state and the board ---

function queryString(query: object): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const qs = params.toString();
  return qs ? `?${qs}` : '';
}

const enc = encodeURIComponent;

/**
 * Records observations (shield, compromise, patch) in one tenant, in requests of at most
 * MAX_OBSERVATIONS_PER_REQUEST; observations of assets the tenant does not have come back in unknown_assets.
 */
export async function recordObservations(
  options: ApiClientOptions,
  tenant: string,
  observations: readonly Observation[],
): Promise<ObservationsResult> {
  const out: ObservationsResult = { recorded: 0, unknown_assets: [] };
  for (let i = 0; i < observations.length; i += MAX_OBSERVATIONS_PER_REQUEST) {
    const res = await apiRequest<ObservationsResult>(
      options,
      'POST',
      `api/v1/tenants/${enc(tenant)}/observations`,
      {
        observations: observations.slice(i, i + MAX_OBSERVATIONS_PER_REQUEST),
      },
    );
    out.recorded += res.recorded;
    for (const id of res.unknown_assets) if (!out.unknown_assets.includes(id)) out.unknown_assets.push(id);
  }
  return out;
}

/**
 * Uploads a hunt's host reports for one advisory, in requests of at most MAX_OBSERVATIONS_PER_REQUEST reports; the
 * server matches hosts to the tenant's assets and answers which matched and which did not (and why).
 */
export async function pushHuntReports(
  options: ApiClientOptions,
  tenant: string,
  body: HuntReportsBody,
): Promise<HuntReportsResult> {
  const out: HuntReportsResult = { matched: [], unmatched: [] };
  for (let i = 0; i < body.reports.length; i += MAX_OBSERVATIONS_PER_REQUEST) {
    const res = await apiRequest<HuntReportsResult>(
      options,
      'POST',
      `api/v1/tenants/${enc(tenant)}/hunt-reports`,
      {
        ...body,
        reports: body.reports.slice(i, i + MAX_OBSERVATIONS_PER_REQUEST),
      },
    );
    out.matched.push(...res.matched);
    out.unmatched.push(...res.unmatched);
  }
  return out;
}

/** The response board of an advisory: totals and a page of tenants with their counts. */
export async function board(
  options: ApiClientOptions,
  advisory: string,
  query: BoardQuery = {},
): Promise<Board> {
  return apiRequest<Board>(options, 'GET', `api/v1/advisories/${enc(advisory)}/board${queryString(query)}`);
}

/** One tenant's assets on an advisory's board, worst first; pass next_cursor as `cursor` for the next page. */
export async function boardAssets(
  options: ApiClientOptions,
  advisory: string,
  tenant: string,
  query: BoardAssetsQuery = {},
): Promise<BoardAssets> {
  return apiRequest<BoardAssets>(
    options,
    'GET',
    `api/v1/advisories/${enc(advisory)}/board/tenants/${enc(tenant)}/assets${queryString(query)}`,
  );
}

/** An asset's response answers (for one advisory, or every advisory with a verdict or observation) and history. */
export async function assetResponse(
  options: ApiClientOptions,
  tenant: string,
  asset: string,
  advisory?: string,
): Promise<AssetResponseDetail> {
  return apiRequest<AssetResponseDetail>(
    options,
    'GET',
    `api/v1/tenants/${enc(tenant)}/assets/${enc(asset)}/response${queryString({ advisory })}`,
  );
}

// --- jobs ---

function jobPath(id: string, action = ''): string {
  return `api/v1/jobs/${encodeURIComponent(id)}${action}`;
}

/** Jobs the token sees, newest first; `next` of the answer is the `after` of the next page. */
export async function listJobs(options: ApiClientOptions, query: JobListQuery = {}): Promise<JobPage> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const qs = params.toString();
  return apiRequest<JobPage>(options, 'GET', `api/v1/jobs${qs ? `?${qs}` : ''}`);
}

/** One job; ApiClientError with status 404 when it does not exist or the token does not see it. */
export async function getJob(options: ApiClientOptions, id: string): Promise<Job> {
  return apiRequest<Job>(options, 'GET', jobPath(id));
}

/**
 * Cancels a job: a queued one ends cancelled, a running one is asked to stop (cancel_requested) and ends cancelled
 * when its handler next checks. ApiClientError 409 when the job already ended.
 */
export async function cancelJob(options: ApiClientOptions, id: string): Promise<Job> {
  return apiRequest<Job>(options, 'POST', jobPath(id, '/cancel'));
}

export function isFinished(job: Pick<Job, 'state'>): boolean {
  return FINISHED_JOB_STATES.includes(job.state);
}

// --- advisory import as a job ---

export interface ImportRequest {
  /** The document as read from its file. */
  body: string;
  /** application/json, application/xml or application/yaml. */
  contentType: string;
  /** Skip format detection. */
  format?: ImportFormat;
  /** The same key again answers with the job it started instead of starting another. */
  idempotencyKey?: string;
}

export interface ImportAccepted {
  job: Job;
  /** Where the job is (the Location header), e.g. /api/v1/jobs/job_…. */
  location: string | null;
}

/**
 * Uploads an advisory document. The server answers 202 with the job that imports it and recomputes findings
 * (kind advisories.recompute); `job.result` holds the import's outcome once it succeeded.
 */
export async function importAdvisories(
  options: ApiClientOptions,
  request: ImportRequest,
): Promise<ImportAccepted> {
  const qs = request.format ? `?${new URLSearchParams({ format: request.format })}` : '';
  const res = await apiExchange<Job>(options, 'POST', `api/v1/advisories/import${qs}`, {
    text: { body: request.body, contentType: request.contentType },
    ...(request.idempotencyKey ? { headers: { 'idempotency-key': request.idempotencyKey } } : {}),
  });
  const job = res.body as Partial<Job> | undefined;
  if (res.status !== 202 || !job || typeof job.id !== 'string' || typeof job.state !== 'string')
    throw new ApiClientError(
      `POST /api/v1/advisories/import: the server answered ${res.status} without a job; it predates background imports (upgrade it)`,
      res.status,
    );
  return { job: res.body, location: res.headers.get('location') };
}

// --- following a job ---

export interface WaitOptions {
  /** Called with each state or progress seen, the last call with the finished job. */
  onUpdate?(job: Job): void;
  /** Called once if the event stream fails and waiting falls back to polling. */
  onFallback?(reason: string): void;
  /** Give up after this long (default 1 hour): rejects with WaitTimeoutError. */
  timeoutMs?: number;
  /** Polling interval when the event stream is not available (default 1 s). */
  pollMs?: number;
  /** Aborting stops waiting (the job goes on): rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Options of the event stream (limits; tests shorten them). */
  stream?: { idleTimeoutMs?: number; maxReconnects?: number; retryMs?: number };
}

export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
  constructor(readonly job: Job) {
    super(`job ${job.id} is still ${job.state} after the wait's time limit`);
  }
}

/**
 * Waits until a job has finished and returns it as GET /api/v1/jobs/:id shows it (with its result or error).
 * Follows the job's job.updated events on the event stream; if the stream cannot be had or fails, polls the
 * job instead. Waiting never changes the job: stopping (signal, timeout) leaves it running.
 */
export async function waitForJob(
  options: ApiClientOptions,
  id: string,
  wait: WaitOptions = {},
): Promise<Job> {
  const timeoutMs = wait.timeoutMs ?? 60 * 60_000;
  const deadline = Date.now() + timeoutMs;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new Error('timeout')), timeoutMs);
  const onAbort = () => stop.abort(wait.signal?.reason);
  if (wait.signal?.aborted) onAbort();
  else wait.signal?.addEventListener('abort', onAbort, { once: true });
  let latest: Job | undefined;
  const seen = (job: Job) => {
    latest = job;
    wait.onUpdate?.(job);
  };
  const check = () => {
    if (wait.signal?.aborted) throw wait.signal.reason ?? new Error('aborted');
    if (stop.signal.aborted) throw new WaitTimeoutError(latest!);
  };
  try {
    seen(await getJob(options, id));
    if (isFinished(latest!)) return latest!;
    let finished: Job | undefined;
    try {
      await followEvents({
        baseUrl: options.baseUrl,
        token: options.token,
        signal: stop.signal,
        ...wait.stream,
        // Read after the stream is open: a change between the first read and the stream is not missed.
        onOpen: async () => {
          const job = await getJob(options, id);
          if (job.state !== latest!.state || job.progress.done !== latest!.progress.done) seen(job);
          if (isFinished(job)) {
            finished = job;
            stop.abort();
          }
        },
        onEvent: async (event) => {
          if (event.type !== 'job.updated' || event.data.job_id !== id) return;
          const data = event.data as { state?: string; progress?: Job['progress'] };
          const state = data.state as Job['state'];
          if (FINISHED_JOB_STATES.includes(state)) {
            finished = await getJob(options, id);
            stop.abort();
            return;
          }
          seen({ ...latest!, state, progress: data.progress ?? latest!.progress });
        },
      });
    } catch (err) {
      if (!(err instanceof EventStreamError)) throw err;
      wait.onFallback?.(err.message);
    }
    if (finished) {
      seen(finished);
      return finished;
    }
    check();
    // The stream failed: poll.
    const pollMs = wait.pollMs ?? 1000;
    while (Date.now() < deadline) {
      await pause(pollMs, stop.signal);
      check();
      const job = await getJob(options, id);
      if (job.state !== latest!.state || job.progress.done !== latest!.progress.done || isFinished(job))
        seen(job);
      if (isFinished(job)) return job;
    }
    throw new WaitTimeoutError(latest!);
  } finally {
    clearTimeout(timer);
    wait.signal?.removeEventListener('abort', onAbort);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

// --- assets, findings and bulk status changes ---

function findingPath(tenant: string, asset: string, cve: string): string {
  return `api/v1/tenants/${enc(tenant)}/assets/${enc(asset)}/findings/${enc(cve)}`;
}

/** A page of a tenant's assets; pass the answer's `next_cursor` (or `prev_cursor`) as `cursor` for the next one. */
export async function listAssets(
  options: ApiClientOptions,
  tenant: string,
  query: AssetListQuery = {},
): Promise<AssetPage> {
  return apiRequest<AssetPage>(options, 'GET', `api/v1/tenants/${enc(tenant)}/assets${queryString(query)}`);
}

/** One finding; its `etag` is what `setFindingStatus` sends as If-Match. */
export async function getFinding(
  options: ApiClientOptions,
  tenant: string,
  asset: string,
  cve: string,
): Promise<Finding> {
  return apiRequest<Finding>(options, 'GET', findingPath(tenant, asset, cve));
}

/**
 * Sets a finding's status with a reason. With `ifMatch` (a finding's `etag`) only if the finding is still in that
 * version: ApiClientError 412 otherwise.
 */
export async function setFindingStatus(
  options: ApiClientOptions,
  tenant: string,
  asset: string,
  cve: string,
  change: FindingStatusChange,
  ifMatch?: string,
): Promise<Finding> {
  const res = await apiExchange<Finding>(options, 'PATCH', findingPath(tenant, asset, cve), {
    json: change,
    ...(ifMatch ? { headers: { 'if-match': `"${ifMatch}"` } } : {}),
  });
  return res.body;
}

/** Bulk status change, step one: the match count and the confirmation to commit with. */
export async function previewBulkStatus(
  options: ApiClientOptions,
  tenant: string,
  body: BulkPreviewBody,
): Promise<BulkPreview> {
  return apiRequest<BulkPreview>(
    options,
    'POST',
    `api/v1/tenants/${enc(tenant)}/findings/bulk/preview`,
    body,
  );
}

/**
 * Bulk status change, step two: applies the preview's change to exactly the findings it matched. ApiClientError
 * 409 ("stale: preview again") when they changed, the confirmation expired or was already used.
 */
export async function commitBulkStatus(
  options: ApiClientOptions,
  tenant: string,
  token: string,
): Promise<BulkCommitResult> {
  return apiRequest<BulkCommitResult>(options, 'POST', `api/v1/tenants/${enc(tenant)}/findings/bulk/commit`, {
    token,
  });
}

/** The token's principal: its role, tenant scope and `permissions`. */
export async function getMe(options: ApiClientOptions): Promise<Me> {
  return apiRequest<Me>(options, 'GET', 'api/v1/me');
}

/** A page of the audit log (administrators); `cursor` from the answer before for the next one. */
export async function listAudit(options: ApiClientOptions, query: AuditQuery = {}): Promise<AuditPage> {
  return apiRequest<AuditPage>(options, 'GET', `api/v1/audit${queryString(query)}`);
}

// --- agents ---

/** Creates an enrolment token for the tenant; the answer's `token` is the only time its text is shown. */
export async function createAgentToken(
  options: ApiClientOptions,
  tenant: string,
  body: AgentTokenCreate = {},
): Promise<AgentTokenCreated> {
  return apiRequest<AgentTokenCreated>(options, 'POST', `api/v1/tenants/${enc(tenant)}/agent-tokens`, body);
}

export async function listAgentTokens(options: ApiClientOptions, tenant: string): Promise<AgentTokenList> {
  return apiRequest<AgentTokenList>(options, 'GET', `api/v1/tenants/${enc(tenant)}/agent-tokens`);
}

export async function revokeAgentToken(
  options: ApiClientOptions,
  tenant: string,
  id: string,
): Promise<AgentToken> {
  return apiRequest<AgentToken>(options, 'DELETE', `api/v1/tenants/${enc(tenant)}/agent-tokens/${enc(id)}`);
}

/** Enrols an agent (public: `options.token` may be empty; the enrolment token is in the body). */
export async function enrollAgent(
  options: Pick<ApiClientOptions, 'baseUrl' | 'timeoutMs'>,
  body: EnrollBody,
): Promise<EnrollResult> {
  return apiRequest<EnrollResult>({ ...options, token: '' }, 'POST', 'api/v1/agents/enroll', body);
}

export async function listAgents(
  options: ApiClientOptions,
  tenant: string,
  query: AgentListQuery = {},
): Promise<AgentPage> {
  return apiRequest<AgentPage>(options, 'GET', `api/v1/tenants/${enc(tenant)}/agents${queryString(query)}`);
}

export async function getAgent(options: ApiClientOptions, tenant: string, id: string): Promise<Agent> {
  return apiRequest<Agent>(options, 'GET', `api/v1/tenants/${enc(tenant)}/agents/${enc(id)}`);
}

export async function revokeAgent(
  options: ApiClientOptions,
  tenant: string,
  id: string,
  reason?: string,
): Promise<Agent> {
  return apiRequest<Agent>(
    options,
    'POST',
    `api/v1/tenants/${enc(tenant)}/agents/${enc(id)}/revoke`,
    reason === undefined ? {} : { reason },
  );
}

export async function createAgentJobs(
  options: ApiClientOptions,
  tenant: string,
  body: AgentJobCreate,
): Promise<AgentJobCreated> {
  return apiRequest<AgentJobCreated>(options, 'POST', `api/v1/tenants/${enc(tenant)}/agent-jobs`, body);
}

export async function listAgentJobs(
  options: ApiClientOptions,
  tenant: string,
  query: AgentJobListQuery = {},
): Promise<AgentJobPage> {
  return apiRequest<AgentJobPage>(
    options,
    'GET',
    `api/v1/tenants/${enc(tenant)}/agent-jobs${queryString(query)}`,
  );
}

export async function getAgentJob(options: ApiClientOptions, tenant: string, id: string): Promise<AgentJob> {
  return apiRequest<AgentJob>(options, 'GET', `api/v1/tenants/${enc(tenant)}/agent-jobs/${enc(id)}`);
}

export async function cancelAgentJob(
  options: ApiClientOptions,
  tenant: string,
  id: string,
): Promise<AgentJob> {
  return apiRequest<AgentJob>(options, 'POST', `api/v1/tenants/${enc(tenant)}/agent-jobs/${enc(id)}/cancel`);
}

/** Queues the fan-out platform job (operators); follow it with waitForJob. */
export async function fanOutAgentJob(options: ApiClientOptions, body: AgentFanOutBody): Promise<Job> {
  return apiRequest<Job>(options, 'POST', 'api/v1/agent-jobs/fan-out', body);
}
