/**
 * Recurring jobs. A schedule (job_schedules) names a kind, its params and an interval; the scheduler's leader
 * enqueues the kind when next_run_at is reached, under the idempotency key `schedule:<name>:<slot>` (the slot is
 * the due time), and moves next_run_at past now (missed slots are not caught up one by one: one run per tick).
 *
 * One leader: on PostgreSQL the replica holding a session advisory lock (on a connection of its own, outside the
 * pool); if that replica dies or its session is lost the lock is free, and another replica's scheduler takes it at
 * its next tick. On SQLite the one process leads. A double fire (two leaders for a moment, a retried tick) enqueues once,
 * by the key.
 */
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Database } from '../db/schema.js';
import { isPostgres } from '../events/outbox.js';
import { type Clock, iso, systemClock } from './model.js';
import type { JobQueue } from './queue.js';
import type { WorkerLog } from './worker.js';

export interface ScheduleInput {
  name: string;
  kind: string;
  tenantId?: string | null;
  params?: unknown;
  intervalSeconds: number;
  /** The first run (default: now). */
  firstRunAt?: Date;
}

export interface JobSchedulerOptions {
  db: Kysely<Database>;
  queue: JobQueue;
  /** PostgreSQL: a new client outside the pool for the leader lock's session (Db.dedicatedClient). */
  lockClient?: (applicationName: string) => pg.Client;
  /** How often the leader looks for due schedules, and others try to lead (default 1 s). */
  tickMs?: number;
  clock?: Clock;
  log?: WorkerLog;
}

/** The advisory lock key: one per schema, so installations sharing a PostgreSQL server do not contend. */
const LOCK_NAMESPACE = 'bulwark.jobs.scheduler';
/** Idempotency keys of scheduled runs start with this; keys a client sends must not (they would block a run). */
export const SCHEDULE_KEY_PREFIX = 'schedule:';
const NAME_RE = /^[a-z0-9][a-z0-9._:-]{0,99}$/;
const MAX_DUE_PER_TICK = 100;

/** Creates or updates a schedule (its next run stays unless the interval changed). */
export async function defineSchedule(
  db: Kysely<Database>,
  input: ScheduleInput,
  clock: Clock = systemClock,
): Promise<void> {
  if (!NAME_RE.test(input.name))
    throw new Error(
      `schedule name: "${input.name}" must be lower-case letters, digits, . _ : - (at most 100)`,
    );
  if (
    !Number.isInteger(input.intervalSeconds) ||
    input.intervalSeconds < 1 ||
    input.intervalSeconds > 366 * 86400
  )
    throw new Error(`schedule ${input.name}: intervalSeconds must be an integer from 1 to ${366 * 86400}`);
  const now = iso(clock());
  const params = JSON.stringify(input.params ?? {});
  await db
    .insertInto('job_schedules')
    .values({
      name: input.name,
      tenant_id: input.tenantId ?? null,
      kind: input.kind,
      params,
      interval_seconds: input.intervalSeconds,
      next_run_at: iso(input.firstRunAt?.getTime() ?? clock()),
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc.column('name').doUpdateSet((eb) => ({
        kind: eb.ref('excluded.kind'),
        tenant_id: eb.ref('excluded.tenant_id'),
        params: eb.ref('excluded.params'),
        interval_seconds: eb.ref('excluded.interval_seconds'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
}

export async function removeSchedule(db: Kysely<Database>, name: string): Promise<boolean> {
  const r = await db.deleteFrom('job_schedules').where('name', '=', name).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export class JobScheduler {
  private readonly pg: boolean;
  private readonly tickMs: number;
  private readonly clock: Clock;
  private running = false;
  private leader = false;
  private loopDone?: Promise<void>;
  private wakeUp?: () => void;
  /** PostgreSQL: the session that holds (or tries for) the leader lock. */
  private session?: pg.Client;

  constructor(private readonly options: JobSchedulerOptions) {
    this.pg = isPostgres(options.db);
    this.tickMs = options.tickMs ?? 1_000;
    this.clock = options.clock ?? systemClock;
    if (this.pg && !options.lockClient)
      throw new Error(
        'the job scheduler on PostgreSQL needs lockClient (Db.dedicatedClient) for its leader lock',
      );
  }

  /** True while this instance leads (enqueues due schedules). */
  isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Stops ticking and gives up leadership (the lock), so another instance leads at its next tick. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loopDone;
    // Ending the session releases the lock.
    await this.dropSession();
  }

  /** Runs one tick now (tests, and after defining a schedule). */
  async tick(): Promise<number> {
    if (!(await this.lead())) return 0;
    return this.fireDue();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        await this.tick();
      } catch (err) {
        this.options.log?.error({ err }, 'job scheduler tick failed');
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.tickMs);
        this.wakeUp = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Whether this instance leads now: acquires or checks the advisory lock on PostgreSQL. */
  private async lead(): Promise<boolean> {
    if (!this.pg) {
      this.leader = true;
      return true;
    }
    try {
      const session = await this.lockSession();
      if (this.leader) {
        // The session that holds the lock still answers: still the leader.
        await session.query('select 1');
        return true;
      }
      const got = await session.query<{ ok: boolean }>(
        'select pg_try_advisory_lock(hashtext(current_schema()), hashtext($1)) as ok',
        [LOCK_NAMESPACE],
      );
      this.leader = got.rows[0]?.ok === true;
      return this.leader;
    } catch (err) {
      this.options.log?.warn({ err }, 'job scheduler lock session lost; retrying at the next tick');
      await this.dropSession();
      return false;
    }
  }

  private async lockSession(): Promise<pg.Client> {
    if (this.session) return this.session;
    const client = this.options.lockClient!('bulwark-job-scheduler');
    // A terminated session must not crash the process: it only ends this instance's leadership.
    client.on('error', () => void this.dropSession(client));
    await client.connect();
    this.session = client;
    return client;
  }

  private async dropSession(client = this.session): Promise<void> {
    if (client && client === this.session) {
      this.session = undefined;
      this.leader = false;
    }
    await client?.end().catch(() => {});
  }

  private async fireDue(): Promise<number> {
    const db = this.options.db;
    const nowMs = this.clock();
    const due = await db
      .selectFrom('job_schedules')
      .selectAll()
      .where('next_run_at', '<=', iso(nowMs))
      .orderBy('next_run_at')
      .limit(MAX_DUE_PER_TICK)
      .execute();
    let fired = 0;
    for (const s of due) {
      const slot = s.next_run_at;
      const step = s.interval_seconds * 1000;
      const behind = Math.floor((nowMs - Date.parse(slot)) / step) + 1;
      const next = iso(Date.parse(slot) + behind * step);
      const enqueued = await db.transaction().execute(async (trx) => {
        const moved = await trx
          .updateTable('job_schedules')
          .set({ next_run_at: next, updated_at: iso(nowMs) })
          .where('name', '=', s.name)
          .where('next_run_at', '=', slot)
          .executeTakeFirst();
        if (Number(moved.numUpdatedRows) !== 1) return false;
        await this.options.queue.enqueue(trx, {
          kind: s.kind,
          tenantId: s.tenant_id,
          params: JSON.parse(s.params) as unknown,
          idempotencyKey: `${SCHEDULE_KEY_PREFIX}${s.name}:${slot}`,
          createdBy: `schedule:${s.name}`,
          // A run that could not start before the next one is due is not worth starting.
          expiresAt: new Date(Date.parse(next)),
        });
        return true;
      });
      if (enqueued) fired++;
    }
    if (fired > 0) this.options.queue.wake();
    return fired;
  }
}
