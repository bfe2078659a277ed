/** Job rows and the envelope the API shows: conversion, ids, and the one-line error a job keeps. */
import { randomBytes } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Job } from '../../api/jobs.js';
import type { JobTable } from '../db/schema.js';

export type JobRow = Selectable<JobTable>;

/** Milliseconds since the epoch; injectable so tests can move time. */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();

export const iso = (ms: number): string => new Date(ms).toISOString();

let lastMs = 0;
let sequence = 0;

/**
 * Ids sort by creation time (base-36 milliseconds, fixed width), then by a counter within the millisecond (this
 * process), then random: lists ordered by (created_at, id) show a process's jobs in the order it created them.
 */
export function newJobId(nowMs: number): string {
  if (nowMs <= lastMs) sequence++;
  else {
    lastMs = nowMs;
    sequence = 0;
  }
  const ms = Math.max(nowMs, lastMs);
  return `job_${ms.toString(36).padStart(9, '0')}${sequence.toString(36).padStart(4, '0')}${randomBytes(6).toString('hex')}`;
}

export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    kind: row.kind,
    state: row.state as Job['state'],
    tenant_id: row.tenant_id,
    progress: { done: row.progress_done, total: row.progress_total },
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    cancel_requested: row.cancel_requested === 1,
    error: row.error,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    created_by: row.created_by,
    created_at: row.created_at,
    run_after: row.run_after,
    started_at: row.started_at,
    finished_at: row.finished_at,
    expires_at: row.expires_at,
    idempotency_key: row.idempotency_key,
  };
}

const MAX_ERROR = 500;

/**
 * A failure as the job keeps it: the message's first line, credentials in URLs and bearer/API tokens masked,
 * controls removed, at most 500 characters. Stack traces go to the log, never into the row.
 */
export function oneLineError(error: unknown): string {
  const raw = error instanceof Error ? error.message || error.name : String(error);
  const line = (raw.split(/\r?\n/, 1)[0] ?? '')
    .replace(/(\w+:\/\/[^\s:/@]*:)[^\s@/]*@/g, '$1***@')
    .replace(/\b(bearer\s+)\S+/gi, '$1***')
    .replace(/\bbwk_[A-Za-z0-9_-]+/g, 'bwk_***')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ')
    .trim();
  const text = line || 'failed without a message';
  return text.length > MAX_ERROR ? `${text.slice(0, MAX_ERROR - 1)}…` : text;
}

/** The job.updated event's data: the state a consumer needs, never params or results. */
export function eventData(row: JobRow): Record<string, unknown> {
  return {
    job_id: row.id,
    kind: row.kind,
    state: row.state,
    progress: { done: row.progress_done, total: row.progress_total },
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    cancel_requested: row.cancel_requested === 1,
    error: row.error,
  };
}
