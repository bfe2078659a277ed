/**
 * The job queue: enqueue (inside the caller's transaction, so a change and the job that follows it commit
 * together), read, list and cancel. Workers (worker.ts) run what is queued. Every state change publishes a
 * job.updated event in the same transaction.
 */
import type { Kysely } from 'kysely';
import { FINISHED_JOB_STATES, type Job, type JobPage, type JobStateName } from '../../api/jobs.js';
import type { Database } from '../db/schema.js';
import { badRequest, conflict } from '../errors.js';
import { type Clock, iso, type JobRow, newJobId, systemClock, toJob } from './model.js';
import { publishJobUpdated } from './publish.js';

/** The database or a transaction on it: every queue operation runs on the caller's choice. */
export type Executor = Kysely<Database>;

export interface EnqueueInput {
  kind: string;
  /** The tenant whose job it is; null for installation-wide work. */
  tenantId: string | null;
  /** JSON-serialisable parameters the kind's handler receives. */
  params?: unknown;
  /**
   * A second enqueue with the same key (same kind, tenant and createdBy) returns the first job instead of creating
   * another; the key used by anyone else is a conflict, never their job.
   */
  idempotencyKey?: string;
  /** Runs before the job is failed for good (default 3). */
  maxAttempts?: number;
  /** Not started before this time (default: now). */
  runAfter?: Date;
  /** A job still queued at this time is never started: it ends expired. */
  expiresAt?: Date;
  /** Who asked for it, as the audit log names actors (`user:…`, `token:…`, `schedule:…`). */
  createdBy: string;
}

/**
 * Which tenants' jobs a caller sees: 'all' (operators that see every tenant: every job, installation-wide ones
 * included) or a list of tenant ids (exactly those tenants' jobs, never installation-wide ones).
 */
export type JobScope = 'all' | readonly string[];

export interface JobListOptions {
  scope: JobScope;
  state?: JobStateName;
  kind?: string;
  /** Narrow to one tenant (still within the scope). */
  tenant?: string;
  limit?: number;
  offset?: number;
  /** A previous page's `next`: jobs older than its last item. */
  after?: string;
}

export const DEFAULT_MAX_ATTEMPTS = 3;
const KIND_RE = /^[a-z][a-z0-9._-]{0,99}$/;
const MAX_KEY = 300;
const MAX_PARAMS_BYTES = 64 * 1024 * 1024;

export class JobQueue {
  private readonly enqueueListeners = new Set<() => void>();
  private readonly cancelListeners = new Set<(id: string) => void>();

  constructor(
    readonly db: Executor,
    readonly clock: Clock = systemClock,
  ) {}

  /**
   * Queues a job, or returns the job already queued under the same idempotency key (the key must then name the
   * same kind, tenant and creator, or this is a conflict: one principal never gets another's job by its key). Pass a transaction to make the job part of a change. Workers in
   * this process are woken at once when `db` is not a transaction; after committing a transaction, call `wake()`
   * (otherwise the next poll finds the job).
   */
  async enqueue(db: Executor, input: EnqueueInput): Promise<Job> {
    if (!db.isTransaction) {
      // The job and its event commit together.
      const job = await db.transaction().execute((trx) => this.enqueue(trx, input));
      this.wake();
      return job;
    }
    if (!KIND_RE.test(input.kind))
      throw badRequest(`kind: "${input.kind}" must be lower-case letters, digits, . _ - (at most 100)`);
    const maxAttempts = input.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100)
      throw badRequest(`maxAttempts: ${maxAttempts} must be an integer from 1 to 100`);
    const key = input.idempotencyKey;
    if (key !== undefined && (key.length === 0 || key.length > MAX_KEY))
      throw badRequest(`idempotencyKey: must be 1 to ${MAX_KEY} characters`);
    const params = JSON.stringify(input.params ?? {});
    if (params === undefined) throw badRequest('params: must be JSON-serialisable');
    if (params.length > MAX_PARAMS_BYTES) throw badRequest('params: larger than 64 MiB');
    for (const [field, d] of [
      ['runAfter', input.runAfter],
      ['expiresAt', input.expiresAt],
    ] as const) {
      if (d !== undefined && !(d instanceof Date && Number.isFinite(d.getTime())))
        throw badRequest(`${field}: must be a valid Date`);
    }

    const now = this.clock();
    const row: JobRow = {
      tenant_id: input.tenantId,
      id: newJobId(now),
      kind: input.kind,
      params,
      state: 'queued',
      attempts: 0,
      max_attempts: maxAttempts,
      run_after: iso(input.runAfter?.getTime() ?? now),
      lease_owner: null,
      lease_until: null,
      progress_done: 0,
      progress_total: null,
      result: null,
      error: null,
      idempotency_key: key ?? null,
      cancel_requested: 0,
      created_by: input.createdBy,
      created_at: iso(now),
      updated_at: iso(now),
      started_at: null,
      finished_at: null,
      expires_at: input.expiresAt ? iso(input.expiresAt.getTime()) : null,
    };
    // ON CONFLICT DO NOTHING rather than catching a unique violation: on PostgreSQL a failed statement would
    // abort the caller's transaction.
    const inserted = await db
      .insertInto('jobs')
      .values(row)
      .$if(key !== undefined, (q) => q.onConflict((oc) => oc.column('idempotency_key').doNothing()))
      .returningAll()
      .executeTakeFirst();
    if (inserted) {
      await publishJobUpdated(db, inserted);
      return toJob(inserted);
    }
    const existing = await db
      .selectFrom('jobs')
      .selectAll()
      .where('idempotency_key', '=', key!)
      .executeTakeFirst();
    if (!existing) throw conflict(`idempotency_key: job "${key}" is being created concurrently; retry`);
    if (
      existing.kind !== input.kind ||
      existing.tenant_id !== input.tenantId ||
      existing.created_by !== input.createdBy
    )
      throw conflict(
        `idempotency_key: "${key}" already names a different job (kind, tenant or creator differ); choose another key`,
      );
    return toJob(existing);
  }

  /** The job, if it exists and the scope sees it. */
  async get(id: string, scope: JobScope = 'all', db: Executor = this.db): Promise<Job | undefined> {
    const row = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row && inJobScope(scope, row.tenant_id) ? toJob(row) : undefined;
  }

  /** Newest first, keyset-paged (`after`), filtered by state, kind and tenant within the scope. */
  async list(options: JobListOptions): Promise<JobPage> {
    const limit = Math.min(options.limit ?? 100, 1000);
    const offset = options.offset ?? 0;
    const cursor = options.after === undefined ? undefined : decodeCursor(options.after);
    const scope = options.scope;
    if (scope !== 'all' && scope.length === 0) return { items: [], total: 0, limit, offset, next: null };
    let q = this.db.selectFrom('jobs');
    if (scope !== 'all') q = q.where('tenant_id', 'in', [...scope]);
    if (options.tenant !== undefined) q = q.where('tenant_id', '=', options.tenant);
    if (options.state !== undefined) q = q.where('state', '=', options.state);
    if (options.kind !== undefined) q = q.where('kind', '=', options.kind);
    const total = Number(
      (await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n,
    );
    const page = cursor
      ? q.where((eb) =>
          eb.or([
            eb('created_at', '<', cursor.createdAt),
            eb.and([eb('created_at', '=', cursor.createdAt), eb('id', '<', cursor.id)]),
          ]),
        )
      : q;
    const rows = await page
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .offset(offset)
      .execute();
    const more = rows.length > limit;
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items: items.map(toJob),
      total,
      limit,
      offset,
      next: more && last ? encodeCursor(last.created_at, last.id) : null,
    };
  }

  /**
   * Cancels a job the scope sees: a queued job ends cancelled at once; a running job gets cancel_requested, its
   * handler's AbortSignal fires (at once in this process, at the next heartbeat elsewhere) and it ends cancelled.
   * A finished job is returned unchanged. Undefined when the job does not exist or the scope does not see it.
   */
  async cancel(id: string, scope: JobScope = 'all'): Promise<Job | undefined> {
    const now = iso(this.clock());
    const job = await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row || !inJobScope(scope, row.tenant_id)) return undefined;
      if ((FINISHED_JOB_STATES as readonly string[]).includes(row.state)) return toJob(row);
      const updated =
        row.state === 'queued'
          ? await trx
              .updateTable('jobs')
              .set({ state: 'cancelled', cancel_requested: 1, finished_at: now, updated_at: now })
              .where('id', '=', id)
              .where('state', '=', 'queued')
              .returningAll()
              .executeTakeFirst()
          : await trx
              .updateTable('jobs')
              .set({ cancel_requested: 1, updated_at: now })
              .where('id', '=', id)
              .where('state', '=', 'running')
              .where('cancel_requested', '=', 0)
              .returningAll()
              .executeTakeFirst();
      if (!updated) {
        // The state moved under us (claimed, finished, or already asked): report it as it is now.
        const again = await trx.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
        return toJob(again);
      }
      await publishJobUpdated(trx, updated);
      return toJob(updated);
    });
    if (job?.state === 'running') for (const l of this.cancelListeners) l(id);
    return job;
  }

  /** Wakes this process's workers (after committing a transaction that enqueued). */
  wake(): void {
    for (const l of this.enqueueListeners) l();
  }

  /** Workers listen here; each returns a function that removes it. */
  onEnqueue(listener: () => void): () => void {
    this.enqueueListeners.add(listener);
    return () => this.enqueueListeners.delete(listener);
  }

  onCancel(listener: (id: string) => void): () => void {
    this.cancelListeners.add(listener);
    return () => this.cancelListeners.delete(listener);
  }
}

export function inJobScope(scope: JobScope, tenantId: string | null): boolean {
  if (scope === 'all') return true;
  return tenantId !== null && scope.includes(tenantId);
}

function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(`${createdAt}\n${id}`, 'utf8').toString('base64url');
}

function decodeCursor(value: string): { createdAt: string; id: string } {
  const text = Buffer.from(value, 'base64url').toString('utf8');
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\n(job_[A-Za-z0-9_-]{1,64})$/.exec(text);
  if (!m) throw badRequest("after: not a cursor this list returned; pass a page's next as it is");
  return { createdAt: m[1]!, id: m[2]! };
}
