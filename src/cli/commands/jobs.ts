/**
 * `bulwark jobs list|show|cancel --server URL`: the server's durable jobs. Exit codes: 0 when the job shown is
 * queued, running or succeeded (and for list and a cancel the server accepted); 1 when the job shown ended
 * failed, cancelled or expired — it did not do its work; 2 for usage errors, an unknown job, a refused token or an
 * unreachable server.
 */
import {
  ApiClientError,
  type ApiClientOptions,
  cancelJob,
  getJob,
  type Job,
  type JobStateName,
  listJobs,
} from '../../api/index.js';
import { escapeAllStrings, terminalSafeJson } from '../../core/index.js';
import { EXIT, type Io, paint, printJson, UsageError } from '../io.js';
import { serverClient } from './server-access.js';

export interface JobsCliOptions {
  server: string;
  tokenFile?: string;
  json?: boolean;
}

export interface JobsListOptions extends JobsCliOptions {
  state?: JobStateName;
  kind?: string;
  tenant?: string;
  limit?: number;
  after?: string;
}

/** States in which a job did not do its work: `jobs show` and `advisories import --wait` exit 1. */
const UNSUCCESSFUL: readonly JobStateName[] = ['failed', 'cancelled', 'expired'];

export function jobExitCode(job: Pick<Job, 'state'>): number {
  return UNSUCCESSFUL.includes(job.state) ? EXIT.findings : EXIT.clean;
}

function client(io: Io, opts: JobsCliOptions): ApiClientOptions {
  return serverClient(io, { url: opts.server, tokenFile: opts.tokenFile, flag: '--server' });
}

/** A server's refusal or an unreachable server as one usage error (exit 2) naming what to do. */
export function asUsageError(err: unknown, id?: string): unknown {
  if (!(err instanceof ApiClientError)) return err;
  if (err.status === 404 && id)
    return new UsageError(
      `no job ${id} on this server, or not one this token may see (see: bulwark jobs list --server URL)`,
    );
  return new UsageError(err.message);
}

export async function runJobsList(io: Io, opts: JobsListOptions): Promise<number> {
  const api = client(io, opts);
  let page: Awaited<ReturnType<typeof listJobs>>;
  try {
    page = await listJobs(api, {
      state: opts.state,
      kind: opts.kind,
      tenant: opts.tenant,
      limit: opts.limit,
      after: opts.after,
    });
  } catch (err) {
    throw asUsageError(err);
  }
  if (opts.json) {
    printJson(io, page);
    return EXIT.clean;
  }
  if (!page.items.length) io.out('No jobs.\n');
  // Kinds, tenants, creators and errors come from the server: shown, never obeyed.
  for (const job of escapeAllStrings(page.items)) {
    io.out(
      `${paint(io, 'bold', job.id)}  ${stateText(io, job.state)}  ${job.kind}  ${job.tenant_id ?? '(installation)'}  ${progressText(job)}  ${job.created_at}\n`,
    );
    if (job.error && UNSUCCESSFUL.includes(job.state)) io.out(`  ${job.error}\n`);
  }
  if (page.next)
    io.out(`${page.items.length} of ${page.total}; next page: --after ${escapeAllStrings(page.next)}\n`);
  return EXIT.clean;
}

export async function runJobsShow(io: Io, id: string, opts: JobsCliOptions): Promise<number> {
  const api = client(io, opts);
  let job: Job;
  try {
    job = await getJob(api, id);
  } catch (err) {
    throw asUsageError(err, id);
  }
  if (opts.json) printJson(io, job);
  else io.out(describeJob(io, job));
  return jobExitCode(job);
}

export async function runJobsCancel(io: Io, id: string, opts: JobsCliOptions): Promise<number> {
  const api = client(io, opts);
  let job: Job;
  try {
    job = await cancelJob(api, id);
  } catch (err) {
    if (err instanceof ApiClientError && err.status === 409) throw new UsageError(err.message);
    throw asUsageError(err, id);
  }
  if (opts.json) printJson(io, job);
  else if (job.state === 'cancelled') io.out(`${job.id} cancelled\n`);
  else
    io.out(
      `${job.id} is running; asked to stop: it ends cancelled when it next checks (see: bulwark jobs show ${job.id})\n`,
    );
  return EXIT.clean;
}

function stateText(io: Io, state: JobStateName): string {
  if (state === 'succeeded') return paint(io, 'green', state);
  if (UNSUCCESSFUL.includes(state)) return paint(io, 'red', state);
  return paint(io, 'yellow', state);
}

export function progressText(job: Pick<Job, 'progress'>): string {
  const { done, total } = job.progress;
  if (total === null) return `${done}/?`;
  return `${done}/${total}${total > 0 ? ` (${Math.floor((100 * done) / total)}%)` : ''}`;
}

/** A job as lines of text; every string the server sent is escaped. */
export function describeJob(io: Io, raw: Job): string {
  const job = escapeAllStrings(raw);
  const lines = [
    `${paint(io, 'bold', job.id)}  ${job.kind}  ${stateText(io, job.state)}${job.cancel_requested && job.state === 'running' ? ' (cancel requested)' : ''}`,
    `  tenant    ${job.tenant_id ?? '(installation-wide)'}`,
    `  progress  ${progressText(job)}`,
    `  attempts  ${job.attempts} of ${job.max_attempts}`,
    `  created   ${job.created_at} by ${job.created_by}`,
  ];
  if (job.started_at) lines.push(`  started   ${job.started_at}`);
  if (job.finished_at) lines.push(`  finished  ${job.finished_at}`);
  else if (job.state === 'queued' && job.run_after !== job.created_at)
    lines.push(`  run after ${job.run_after}`);
  if (job.expires_at && !job.finished_at) lines.push(`  expires   ${job.expires_at}`);
  if (job.idempotency_key) lines.push(`  key       ${job.idempotency_key}`);
  if (job.error) lines.push(`  error     ${job.error}`);
  if (job.result !== null && job.result !== undefined)
    lines.push(`  result    ${terminalSafeJson(job.result, 0)}`);
  return `${lines.join('\n')}\n`;
}
