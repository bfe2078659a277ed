/**
 * Durable jobs as the API shows them: the job envelope (state, progress, attempts, outcome) and the list page.
 * A job's params are not part of the envelope: they can be large (an advisory import carries its documents) and
 * are the server's business; the result is what the job's kind reports when it succeeds.
 */
import { type Static, Type } from '@sinclair/typebox';

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
export type JobStateName = (typeof JOB_STATES)[number];
/** States a job never leaves. */
export const FINISHED_JOB_STATES: readonly JobStateName[] = ['succeeded', 'failed', 'cancelled', 'expired'];

export const JobState = Type.Union(
  JOB_STATES.map((s) => Type.Literal(s)),
  { description: 'queued → running → succeeded | failed | cancelled; a queued job past expires_at: expired' },
);

const Timestamp = Type.String({ description: 'ISO-8601 UTC' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

export const JobProgress = Type.Object({
  done: Type.Integer({ minimum: 0 }),
  total: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
    description: 'null while the amount of work is not known yet',
  }),
});

export const Job = Type.Object({
  id: Type.String(),
  kind: Type.String({ description: 'what the job does, e.g. advisories.import' }),
  state: JobState,
  tenant_id: Type.Union([Type.String(), Type.Null()], {
    description: 'the tenant whose job it is; null for installation-wide jobs',
  }),
  progress: JobProgress,
  attempts: Type.Integer({ minimum: 0, description: 'runs started so far' }),
  max_attempts: Type.Integer({ minimum: 1 }),
  cancel_requested: Type.Boolean({ description: 'a cancel was asked for while the job was running' }),
  error: Type.Union([Type.String(), Type.Null()], { description: 'the last failure, one line' }),
  result: Type.Union([Type.Unknown(), Type.Null()], { description: "the kind's result once succeeded" }),
  created_by: Type.String(),
  created_at: Timestamp,
  run_after: Timestamp,
  started_at: NullableTimestamp,
  finished_at: NullableTimestamp,
  expires_at: NullableTimestamp,
  idempotency_key: Type.Union([Type.String(), Type.Null()]),
});
export type Job = Static<typeof Job>;

export const JobPage = Type.Object({
  items: Type.Array(Job),
  total: Type.Integer({ description: 'jobs matching the filter' }),
  limit: Type.Integer(),
  offset: Type.Integer(),
  next: Type.Union([Type.String(), Type.Null()], {
    description: 'pass as ?after= for the next page (newest first); null on the last page',
  }),
});
export type JobPage = Static<typeof JobPage>;

export const JobListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'page size (default 100)' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, description: 'items to skip (after the cursor)' })),
  after: Type.Optional(
    Type.String({ maxLength: 400, description: "the previous page's next: jobs older than its last" }),
  ),
  state: Type.Optional(JobState),
  kind: Type.Optional(Type.String({ maxLength: 100, pattern: '^[a-z][a-z0-9._-]*$' })),
  tenant: Type.Optional(
    Type.String({
      maxLength: 128,
      pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$',
      description: 'one tenant',
    }),
  ),
});
export type JobListQuery = Static<typeof JobListQuery>;

export const JobIdParams = Type.Object({
  id: Type.String({ pattern: '^job_[A-Za-z0-9_-]{1,64}$', maxLength: 68 }),
});
