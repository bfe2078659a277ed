/**
 * Test helpers for advisory imports, which answer 202 with a job: wait for a job to finish, and import a document
 * then wait for its recompute job (what the synchronous import used to answer is the job's result).
 */
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { ImportResult } from '../../api/advisories.js';
import { FINISHED_JOB_STATES, type Job } from '../../api/jobs.js';
import type { Caller, TestServer } from '../app.testkit.js';

/** Where a job is read: a test server (GET /api/v1/jobs/:id as `caller`, default its admin) or a function. */
export type JobSource = Pick<TestServer, 'call' | 'admin'> | ((id: string) => Promise<Job>);

/** Polls the job until it is finished (succeeded, failed, cancelled or expired); throws after timeoutMs. */
export async function waitForJob(
  source: JobSource,
  id: string,
  options: { caller?: Caller; timeoutMs?: number; intervalMs?: number } = {},
): Promise<Job> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 20;
  const read =
    typeof source === 'function'
      ? source
      : async (jobId: string) => {
          const res = await source.call(options.caller ?? source.admin, {
            method: 'GET',
            url: `/api/v1/jobs/${jobId}`,
          });
          if (res.statusCode !== 200) throw new Error(`GET job ${jobId}: ${res.statusCode} ${res.body}`);
          return res.json() as Job;
        };
  const end = Date.now() + timeoutMs;
  for (;;) {
    const job = await read(id);
    if ((FINISHED_JOB_STATES as readonly string[]).includes(job.state)) return job;
    if (Date.now() >= end)
      throw new Error(
        `job ${id} not finished after ${timeoutMs} ms: ${job.state}, ${job.progress.done}/${job.progress.total}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface ImportOutcome {
  /** The 202 answer (or the 4xx when the import was refused). */
  response: LightMyRequestResponse;
  /** The finished job; undefined when the import was refused. */
  job?: Job;
  /** The job's result (the import report) when it succeeded. */
  result?: ImportResult;
}

/**
 * POSTs an advisory document to /api/v1/advisories/import (JSON unless `contentType` says otherwise) and waits for
 * the job it answers with.
 */
export async function importAdvisories(
  server: Pick<TestServer, 'call' | 'admin'>,
  document: unknown,
  options: {
    caller?: Caller;
    contentType?: string;
    format?: string;
    headers?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<ImportOutcome> {
  const caller = options.caller ?? server.admin;
  const request: InjectOptions = {
    method: 'POST',
    url: `/api/v1/advisories/import${options.format ? `?format=${options.format}` : ''}`,
    headers: { 'content-type': options.contentType ?? 'application/json', ...(options.headers ?? {}) },
    payload: typeof document === 'string' ? document : JSON.stringify(document),
  };
  const response = await server.call(caller, request);
  if (response.statusCode !== 202) return { response };
  const accepted = response.json() as Job;
  const job = await waitForJob(server, accepted.id, {
    caller,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
  return {
    response,
    job,
    ...(job.state === 'succeeded' ? { result: job.result as ImportResult } : {}),
  };
}
