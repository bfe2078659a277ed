/**
 * Retention: a daily installation-wide job (`retention.prune`, schedule `retention.daily`) that prunes old events
 * (events/retention.ts: only what every durable consumer passed, never the newest) and finished jobs. Succeeded,
 * cancelled and expired jobs go `job_retention_days` after they finished; failed jobs stay three times as long,
 * for the post-mortem. Queued and running jobs never go. The days are read from the configuration of the process
 * that runs the job.
 */
import type { Kysely } from 'kysely';
import type { ServerConfig } from './config.js';
import { deleteInBatches } from './db/bulk.js';
import type { Database } from './db/schema.js';
import { pruneEvents } from './events/index.js';
import { defineSchedule, type Jobs } from './jobs/index.js';

export const RETENTION_JOB = 'retention.prune';
export const RETENTION_SCHEDULE = 'retention.daily';
const DAY_MS = 86_400_000;
/** Failed jobs are kept this many times job_retention_days. */
const FAILED_FACTOR = 3;
const DELETE_BATCH = 5_000;
const MAX_BATCHES = 200;

export interface RetentionResult {
  events: number;
  jobs: number;
}

/** Deletes finished jobs past their retention; returns how many. */
export async function pruneJobs(
  db: Kysely<Database>,
  options: { olderThanDays: number; now?: Date },
): Promise<number> {
  if (!Number.isFinite(options.olderThanDays) || options.olderThanDays < 0)
    throw new Error('olderThanDays must be a number of days, 0 or more');
  const now = (options.now ?? new Date()).getTime();
  const finishedBefore = new Date(now - options.olderThanDays * DAY_MS).toISOString();
  const failedBefore = new Date(now - FAILED_FACTOR * options.olderThanDays * DAY_MS).toISOString();
  return deleteInBatches(
    (limit) =>
      db
        .deleteFrom('jobs')
        .where(
          'id',
          'in',
          db
            .selectFrom('jobs')
            .select('id')
            .where((eb) =>
              eb.or([
                eb.and([
                  eb('state', 'in', ['succeeded', 'cancelled', 'expired']),
                  eb('finished_at', '<', finishedBefore),
                ]),
                eb.and([eb('state', '=', 'failed'), eb('finished_at', '<', failedBefore)]),
              ]),
            )
            .limit(limit),
        )
        .executeTakeFirst(),
    DELETE_BATCH,
    MAX_BATCHES,
  );
}

/** Prunes events and jobs with the configured retention. */
export async function pruneAll(
  db: Kysely<Database>,
  config: Pick<ServerConfig, 'event_retention_days' | 'job_retention_days'>,
  now?: Date,
): Promise<RetentionResult> {
  const at = now ? { now } : {};
  const events = await pruneEvents(db, { olderThanDays: config.event_retention_days, ...at });
  const jobs = await pruneJobs(db, { olderThanDays: config.job_retention_days, ...at });
  return { events, jobs };
}

/** Registers the retention job's handler on the process's worker (before the worker starts). */
export function registerRetentionJob(
  jobs: Pick<Jobs, 'worker'>,
  ctx: { db: Kysely<Database>; config: Pick<ServerConfig, 'event_retention_days' | 'job_retention_days'> },
): void {
  jobs.worker.register(RETENTION_JOB, async (_job, jc): Promise<RetentionResult> => {
    const result = await pruneAll(ctx.db, ctx.config);
    jc.progress(1, 1);
    return result;
  });
}

/** Defines the daily schedule (idempotent: every start keeps the next run a previous start set). */
export async function defineRetentionSchedule(db: Kysely<Database>): Promise<void> {
  await defineSchedule(db, {
    name: RETENTION_SCHEDULE,
    kind: RETENTION_JOB,
    tenantId: null,
    intervalSeconds: 86_400,
  });
}
