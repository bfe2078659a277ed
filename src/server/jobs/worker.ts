/**
 * The worker: claims due jobs, runs their kind's handler under a lease, and records the outcome.
 *
 * - Claim: one transaction selects a due job (queued and run_after reached, or running with its lease run out)
 *   and takes it; on PostgreSQL with FOR UPDATE SKIP LOCKED, so any replica's worker may claim and two never take
 *   the same row. The update is also conditional on the row being as read, so a lost race claims nothing.
 * - Lease: the claimer owns the job until lease_until; a timer renews it while the handler runs. A renewal that
 *   finds another owner (or cannot reach the database until the lease ran out) aborts the handler. Every write
 *   for a job — progress, `inLease` transactions, the outcome — is conditional on `lease_owner = this worker`, so
 *   a worker that lost its lease changes nothing and a job never runs twice at the same time.
 * - Outcome: the handler's return value → succeeded; a throw → queued again after exponential back-off with
 *   jitter, or failed after max_attempts; a throw after a cancel was requested → cancelled. A job whose worker
 *   died is claimed again once its lease ran out, as its next attempt.
 * - Stop: no new claims; running handlers get a grace period, then are aborted and their jobs released (queued,
 *   the interrupted attempt not counted).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { Job } from '../../api/jobs.js';
import type { Database } from '../db/schema.js';
import { isPostgres } from '../events/outbox.js';
import { type Clock, iso, type JobRow, oneLineError, systemClock, toJob } from './model.js';
import { publishJobUpdated } from './publish.js';
import type { JobQueue } from './queue.js';

/** A job as its handler sees it: the envelope plus its params. */
export type RunningJob = Job & { params: unknown };

export interface JobContext {
  /** Fires when the job is cancelled, its lease was lost, or the worker stops. */
  signal: AbortSignal;
  /** Reports progress; written (and published) at most every progressIntervalMs, and with the outcome. */
  progress(done: number, total?: number | null): void;
  /** Renews the lease now; throws LeaseLostError when another worker holds the job. Renewal is automatic too. */
  heartbeat(): Promise<void>;
  /**
   * Runs `fn` in a transaction that first checks this worker still holds the job (and, on PostgreSQL, locks its
   * row until commit): a handler's writes made through it never land after the job was taken over. Inside `fn`
   * use only `trx` (on SQLite the one connection is held by this transaction).
   */
  inLease<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /** This run's attempt number, from 1. */
  attempt: number;
  /** The worker's owner id (as stored in lease_owner). */
  owner: string;
}

/** Returns the job's result (JSON-serialisable, at most 1 MiB), or throws to fail this attempt. */
export type JobHandler = (job: RunningJob, ctx: JobContext) => Promise<unknown>;

export class LeaseLostError extends Error {
  constructor(id: string) {
    super(`job ${id}: this worker no longer holds its lease`);
    this.name = 'LeaseLostError';
  }
}

export interface WorkerLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface JobWorkerOptions {
  db: Kysely<Database>;
  /** Wakes this worker right after an enqueue in this process and aborts local handlers at once on cancel. */
  queue?: JobQueue;
  /** Identifies this worker in lease_owner (default: host, pid and a random part). */
  owner?: string;
  /** Jobs run at once (default: 1 on SQLite, 2 on PostgreSQL). */
  concurrency?: number;
  /** How long a claim holds without renewal (default 30 s). */
  leaseMs?: number;
  /** Renewal period while a handler runs (default a third of the lease, at most 5 s). */
  heartbeatMs?: number;
  /** Looks for due jobs this often when not woken (default 1 s). */
  pollMs?: number;
  /** Back-off after a failed attempt: base·2^(attempt-1), at most max, jittered to 50–100 % (default 2 s, 10 min). */
  backoff?: { baseMs?: number; maxMs?: number };
  progressIntervalMs?: number;
  /**
   * At start, treat every running job held by another owner as orphaned (its lease ends now, so it is claimed as
   * its next attempt at once). Only true when no other process can run workers on this database: embedded
   * SQLite, whose data directory lock admits one server.
   */
  reclaimOnStart?: boolean;
  clock?: Clock;
  random?: () => number;
  log?: WorkerLog;
}

const MAX_RESULT_BYTES = 1024 * 1024;
/** Rows settled (expired, cancelled, failed) in one claim call before it yields. */
const MAX_SETTLE_PER_CLAIM = 50;

interface ActiveRun {
  row: JobRow;
  ac: AbortController;
  leaseUntil: number;
  lost: boolean;
  cancelled: boolean;
  released: boolean;
  pending?: { done: number; total: number | null };
  lastProgressWrite: number;
  progressTimer?: NodeJS.Timeout;
  writing: Promise<void>;
}

/** Delay before attempt `attempt + 1` after attempt `attempt` failed. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 40)));
  return Math.round(exp * (0.5 + random() * 0.5));
}

export class JobWorker {
  readonly owner: string;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly active = new Map<string, ActiveRun>();
  private readonly pg: boolean;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly progressIntervalMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private running = false;
  private loopDone?: Promise<void>;
  private wakeUp?: () => void;
  private woken = false;
  private unlisten: Array<() => void> = [];

  constructor(private readonly options: JobWorkerOptions) {
    this.pg = isPostgres(options.db);
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.concurrency = options.concurrency ?? (this.pg ? 2 : 1);
    this.leaseMs = options.leaseMs ?? 30_000;
    this.heartbeatMs = options.heartbeatMs ?? Math.min(5_000, Math.floor(this.leaseMs / 3));
    this.pollMs = options.pollMs ?? 1_000;
    this.baseMs = options.backoff?.baseMs ?? 2_000;
    this.maxMs = options.backoff?.maxMs ?? 600_000;
    this.progressIntervalMs = options.progressIntervalMs ?? 250;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1)
      throw new Error(`concurrency: ${this.concurrency} must be a positive integer`);
  }

  private get db(): Kysely<Database> {
    return this.options.db;
  }

  /** The handler for a kind; register before start. */
  register(kind: string, handler: JobHandler): this {
    if (this.handlers.has(kind)) throw new Error(`job kind ${kind} already has a handler`);
    this.handlers.set(kind, handler);
    return this;
  }

  /** Ids of the jobs this worker runs right now. */
  runningJobs(): string[] {
    return [...this.active.keys()];
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const queue = this.options.queue;
    if (queue) {
      this.unlisten.push(queue.onEnqueue(() => this.wake()));
      this.unlisten.push(
        queue.onCancel((id) => {
          const run = this.active.get(id);
          if (run) this.abortRun(run, 'cancelled');
        }),
      );
    }
    this.loopDone = (this.options.reclaimOnStart ? this.reclaimOrphans() : Promise.resolve()).then(() =>
      this.loop(),
    );
  }

  private async reclaimOrphans(): Promise<void> {
    try {
      const now = iso(this.clock());
      await this.db
        .updateTable('jobs')
        .set({ lease_until: now, updated_at: now })
        .where('state', '=', 'running')
        .where('lease_owner', '!=', this.owner)
        .where('lease_until', '>', now)
        .execute();
    } catch (err) {
      this.options.log?.error(
        { err },
        'reclaiming orphaned jobs failed; they are claimed when their leases run out',
      );
    }
  }

  /** Looks for work now instead of at the next poll. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /**
   * Stops claiming, lets running handlers finish for up to graceMs, then aborts the rest and releases their jobs
   * (queued again, the interrupted attempt not counted) so another worker takes them at once.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const u of this.unlisten) u();
    this.unlisten = [];
    this.wake();
    await this.loopDone;
    await waitUntil(() => this.active.size === 0, graceMs);
    const left = [...this.active.values()];
    for (const run of left) {
      run.released = true;
      await this.release(run).catch((err) =>
        this.options.log?.error({ err, job: run.row.id }, 'job release failed; its lease will run out'),
      );
      this.abortRun(run, 'stopping');
    }
    await waitUntil(() => this.active.size === 0, 2_000);
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let claimed = false;
      if (this.active.size < this.concurrency && this.handlers.size > 0) {
        try {
          const row = await this.claim();
          if (row && this.running) {
            this.run(row);
            claimed = true;
          } else if (row) {
            await this.release({ row } as ActiveRun);
          }
        } catch (err) {
          this.options.log?.error({ err }, 'job claim failed; retrying at the next poll');
        }
      }
      if (!claimed && this.running) await this.sleep(this.pollMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        this.woken = false;
        done();
      };
    });
  }

  /** Claims one due job of a registered kind, settling expired, cancelled and exhausted ones on the way. */
  private async claim(): Promise<JobRow | undefined> {
    const kinds = [...this.handlers.keys()];
    for (let i = 0; i < MAX_SETTLE_PER_CLAIM; i++) {
      const outcome = await this.db.transaction().execute(async (trx) => {
        const now = this.clock();
        const nowIso = iso(now);
        const row = await trx
          .selectFrom('jobs')
          .selectAll()
          .where('kind', 'in', kinds)
          // A job this worker still runs is never claimed again by it, even if its lease lapsed.
          .$if(this.active.size > 0, (q) => q.where('id', 'not in', [...this.active.keys()]))
          .where((eb) =>
            eb.or([
              eb.and([eb('state', '=', 'queued'), eb('run_after', '<=', nowIso)]),
              eb.and([eb('state', '=', 'running'), eb('lease_until', '<', nowIso)]),
            ]),
          )
          .orderBy('run_after')
          .orderBy('id')
          .limit(1)
          .$if(this.pg, (q) => q.forUpdate().skipLocked())
          .executeTakeFirst();
        if (!row) return 'none' as const;
        let patch: Partial<JobRow>;
        if (row.state === 'queued' && row.expires_at !== null && row.expires_at <= nowIso) {
          patch = { state: 'expired', finished_at: nowIso, error: 'expired before it started' };
        } else if (row.state === 'running' && row.cancel_requested === 1) {
          patch = { state: 'cancelled', finished_at: nowIso, lease_owner: null, lease_until: null };
        } else if (row.state === 'running' && row.attempts >= row.max_attempts) {
          patch = {
            state: 'failed',
            finished_at: nowIso,
            lease_owner: null,
            lease_until: null,
            error: `its worker stopped renewing the lease (attempt ${row.attempts} of ${row.max_attempts})`,
          };
        } else {
          patch = {
            state: 'running',
            attempts: row.attempts + 1,
            lease_owner: this.owner,
            lease_until: iso(now + this.leaseMs),
            started_at: row.started_at ?? nowIso,
          };
        }
        const updated = await trx
          .updateTable('jobs')
          .set({ ...patch, updated_at: nowIso })
          .where('id', '=', row.id)
          .where('state', '=', row.state)
          .where('attempts', '=', row.attempts)
          .where('lease_owner', row.lease_owner === null ? 'is' : '=', row.lease_owner)
          .where('lease_until', row.lease_until === null ? 'is' : '=', row.lease_until)
          .returningAll()
          .executeTakeFirst();
        if (!updated) return 'raced' as const;
        await publishJobUpdated(trx, updated);
        return updated;
      });
      if (outcome === 'none') return undefined;
      if (outcome === 'raced') continue;
      if (outcome.state === 'running' && outcome.lease_owner === this.owner) return outcome;
    }
    return undefined;
  }

  private run(row: JobRow): void {
    const handler = this.handlers.get(row.kind)!;
    const run: ActiveRun = {
      row,
      ac: new AbortController(),
      leaseUntil: Date.parse(row.lease_until!),
      lost: false,
      cancelled: false,
      released: false,
      lastProgressWrite: 0,
      writing: Promise.resolve(),
    };
    this.active.set(row.id, run);
    const timer = setInterval(() => void this.renew(run).catch(() => {}), this.heartbeatMs);
    timer.unref();
    const ctx: JobContext = {
      signal: run.ac.signal,
      progress: (done, total) => this.progress(run, done, total),
      heartbeat: () => this.renew(run),
      inLease: (fn) => this.inLease(run, fn),
      attempt: row.attempts,
      owner: this.owner,
    };
    const job: RunningJob = { ...toJob(row), params: JSON.parse(row.params) as unknown };
    void (async () => {
      try {
        let result: unknown;
        let failure: unknown;
        let ok = false;
        try {
          result = await handler(job, ctx);
          ok = true;
        } catch (err) {
          failure = err;
        }
        clearInterval(timer);
        if (run.progressTimer) clearTimeout(run.progressTimer);
        await run.writing;
        if (run.lost || run.released) {
          if (run.lost)
            this.options.log?.warn({ job: row.id }, 'job lease lost: its outcome here is not recorded');
          return;
        }
        if (ok) await this.succeed(run, result);
        else if (run.cancelled || run.ac.signal.aborted) await this.cancelled(run, failure);
        else await this.failed(run, failure);
      } catch (err) {
        this.options.log?.error(
          { err, job: row.id },
          'recording the job outcome failed; its lease will run out',
        );
      } finally {
        clearInterval(timer);
        this.active.delete(row.id);
        this.wake();
      }
    })();
  }

  private abortRun(run: ActiveRun, why: 'cancelled' | 'lost' | 'stopping'): void {
    if (why === 'cancelled') run.cancelled = true;
    if (why === 'lost') run.lost = true;
    if (!run.ac.signal.aborted) {
      const message =
        why === 'cancelled'
          ? 'job cancelled'
          : why === 'lost'
            ? 'job lease lost to another worker'
            : 'worker stopping';
      run.ac.abort(new Error(message));
    }
  }

  /** Extends the lease (writing pending progress); aborts the handler if the job is no longer ours. */
  private async renew(run: ActiveRun): Promise<void> {
    if (run.lost) throw new LeaseLostError(run.row.id);
    const now = this.clock();
    let cancel = false;
    try {
      const updated = await this.writeConditional(run, { lease_until: iso(now + this.leaseMs) });
      if (!updated) {
        this.abortRun(run, 'lost');
        throw new LeaseLostError(run.row.id);
      }
      run.leaseUntil = now + this.leaseMs;
      cancel = updated.cancel_requested === 1;
    } catch (err) {
      if (!(err instanceof LeaseLostError) && this.clock() >= run.leaseUntil) this.abortRun(run, 'lost');
      throw err;
    }
    if (cancel) this.abortRun(run, 'cancelled');
  }

  /**
   * An update of the job's row that only lands while this worker holds it, with pending progress and its event,
   * in one transaction. Serialised per job, so writes never overtake each other.
   */
  private writeConditional(run: ActiveRun, patch: Partial<JobRow>): Promise<JobRow | undefined> {
    const write = run.writing.then(() =>
      this.db.transaction().execute(async (trx) => {
        const pending = run.pending;
        const progressed =
          pending && (pending.done !== run.row.progress_done || pending.total !== run.row.progress_total);
        const updated = await trx
          .updateTable('jobs')
          .set({
            ...patch,
            ...(progressed ? { progress_done: pending.done, progress_total: pending.total } : {}),
            updated_at: iso(this.clock()),
          })
          .where('id', '=', run.row.id)
          .where('lease_owner', '=', this.owner)
          .where('state', '=', 'running')
          .returningAll()
          .executeTakeFirst();
        if (updated && (progressed || patch.state !== undefined)) await publishJobUpdated(trx, updated);
        if (updated) {
          run.row = updated;
          if (progressed) run.lastProgressWrite = this.clock();
        }
        return updated;
      }),
    );
    run.writing = write.then(
      () => {},
      () => {},
    );
    return write;
  }

  private progress(run: ActiveRun, done: number, total?: number | null): void {
    if (!Number.isFinite(done) || done < 0)
      throw new RangeError(`progress done: ${done} must be a number ≥ 0`);
    if (total !== undefined && total !== null && (!Number.isFinite(total) || total < 0))
      throw new RangeError(`progress total: ${total} must be a number ≥ 0 or null`);
    run.pending = {
      done: Math.floor(done),
      total:
        total === undefined
          ? (run.pending?.total ?? run.row.progress_total)
          : total === null
            ? null
            : Math.floor(total),
    };
    if (run.progressTimer || run.lost || run.released) return;
    const wait = Math.max(0, run.lastProgressWrite + this.progressIntervalMs - this.clock());
    run.progressTimer = setTimeout(() => {
      run.progressTimer = undefined;
      void this.writeConditional(run, {})
        .then((updated) => {
          if (!updated) this.abortRun(run, 'lost');
        })
        .catch((err) => this.options.log?.warn({ err, job: run.row.id }, 'job progress not written'));
    }, wait);
    run.progressTimer.unref();
  }

  private async inLease<T>(run: ActiveRun, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    await run.writing;
    return this.db.transaction().execute(async (trx) => {
      const held = await trx
        .updateTable('jobs')
        .set({ updated_at: iso(this.clock()) })
        .where('id', '=', run.row.id)
        .where('lease_owner', '=', this.owner)
        .where('state', '=', 'running')
        .executeTakeFirst();
      if (Number(held.numUpdatedRows) !== 1) {
        this.abortRun(run, 'lost');
        throw new LeaseLostError(run.row.id);
      }
      return fn(trx);
    });
  }

  private async settle(run: ActiveRun, patch: Partial<JobRow>): Promise<void> {
    const updated = await this.writeConditional(run, { ...patch, lease_owner: null, lease_until: null });
    if (!updated) {
      run.lost = true;
      this.options.log?.warn({ job: run.row.id }, 'job lease lost before its outcome was written');
    }
  }

  private async succeed(run: ActiveRun, result: unknown): Promise<void> {
    const text = result === undefined ? null : JSON.stringify(result);
    if (text !== null && (text === undefined || Buffer.byteLength(text) > MAX_RESULT_BYTES)) {
      await this.failed(run, new Error('the job result is not JSON-serialisable or larger than 1 MiB'), true);
      return;
    }
    const now = iso(this.clock());
    await this.settle(run, { state: 'succeeded', result: text, error: null, finished_at: now });
  }

  private async cancelled(run: ActiveRun, failure: unknown): Promise<void> {
    const now = iso(this.clock());
    await this.settle(run, {
      state: 'cancelled',
      finished_at: now,
      error: run.cancelled ? null : oneLineError(failure),
    });
  }

  private async failed(run: ActiveRun, failure: unknown, final = false): Promise<void> {
    const error = oneLineError(failure);
    const attempts = run.row.attempts;
    const now = this.clock();
    if (!final && attempts < run.row.max_attempts) {
      const delay = backoffDelay(attempts, this.baseMs, this.maxMs, this.random);
      await this.settle(run, { state: 'queued', error, run_after: iso(now + delay) });
    } else {
      this.options.log?.warn({ job: run.row.id, kind: run.row.kind, err: failure }, 'job failed for good');
      await this.settle(run, { state: 'failed', error, finished_at: iso(now) });
    }
  }

  /** Gives a job back to the queue at once, not counting the interrupted attempt. */
  private async release(run: ActiveRun): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const now = iso(this.clock());
      const updated = await trx
        .updateTable('jobs')
        .set((eb) => ({
          state: 'queued',
          attempts: eb('attempts', '-', 1),
          lease_owner: null,
          lease_until: null,
          run_after: now,
          updated_at: now,
        }))
        .where('id', '=', run.row.id)
        .where('lease_owner', '=', this.owner)
        .where('state', '=', 'running')
        .returningAll()
        .executeTakeFirst();
      if (updated) await publishJobUpdated(trx, updated);
    });
  }
}

async function waitUntil(done: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}
