/**
 * Durable jobs: the queue (enqueue inside a change's transaction, list, cancel), the worker that runs them under
 * leases, the scheduler for recurring jobs, and the HTTP routes. A server process builds one `Jobs`, registers
 * its kinds' handlers on `jobs.worker`, starts it after migrations, and stops it before closing the database.
 */
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Database } from '../db/schema.js';
import { isPostgres } from '../events/outbox.js';
import type { Clock } from './model.js';
import { JobQueue } from './queue.js';
import { JobScheduler } from './scheduler.js';
import { JobWorker, type JobWorkerOptions, type WorkerLog } from './worker.js';

export { oneLineError } from './model.js';
export {
  DEFAULT_MAX_ATTEMPTS,
  type EnqueueInput,
  type Executor,
  inJobScope,
  type JobListOptions,
  JobQueue,
  type JobScope,
} from './queue.js';
export { type JobRouteDeps, jobRoutes, jobScopeOf } from './routes.js';
export {
  defineSchedule,
  JobScheduler,
  type JobSchedulerOptions,
  removeSchedule,
  SCHEDULE_KEY_PREFIX,
  type ScheduleInput,
} from './scheduler.js';
export {
  backoffDelay,
  type JobContext,
  type JobHandler,
  JobWorker,
  type JobWorkerOptions,
  LeaseLostError,
  type RunningJob,
  type WorkerLog,
} from './worker.js';

export interface JobsOptions {
  db: Kysely<Database>;
  /** Worker settings (concurrency, lease, poll, back-off); db and queue are filled in. */
  worker?: Omit<JobWorkerOptions, 'db' | 'queue' | 'log' | 'clock'>;
  /** PostgreSQL: Db.dedicatedClient, for the scheduler's leader lock session. */
  lockClient?: (applicationName: string) => pg.Client;
  /** How often the scheduler ticks (default 1 s); `false` runs no scheduler in this process. */
  schedulerTickMs?: number | false;
  clock?: Clock;
  log?: WorkerLog;
}

export interface Jobs {
  queue: JobQueue;
  worker: JobWorker;
  scheduler?: JobScheduler;
  start(): void;
  /** Stops the scheduler, then the worker (running jobs get graceMs, then are released to the queue). */
  stop(graceMs?: number): Promise<void>;
}

/** Builds the queue, worker and scheduler; register handlers on `worker`, then `start()`. */
export function createJobs(options: JobsOptions): Jobs {
  const queue = new JobQueue(options.db, options.clock);
  const worker = new JobWorker({
    // Embedded SQLite: this process is the only server on the database (the data directory lock), so running
    // jobs it finds at start belong to a process that is gone.
    reclaimOnStart: !isPostgres(options.db),
    ...options.worker,
    db: options.db,
    queue,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const scheduler =
    options.schedulerTickMs === false
      ? undefined
      : new JobScheduler({
          db: options.db,
          queue,
          ...(options.lockClient ? { lockClient: options.lockClient } : {}),
          ...(options.schedulerTickMs !== undefined ? { tickMs: options.schedulerTickMs } : {}),
          ...(options.clock ? { clock: options.clock } : {}),
          ...(options.log ? { log: options.log } : {}),
        });
  return {
    queue,
    worker,
    scheduler,
    start() {
      worker.start();
      scheduler?.start();
    },
    async stop(graceMs) {
      await scheduler?.stop();
      await worker.stop(graceMs);
    },
  };
}
