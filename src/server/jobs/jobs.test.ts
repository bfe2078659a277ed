/**
 * Durable jobs on SQLite and PostgreSQL: enqueue (idempotent, transactional), run with progress and events,
 * retries with back-off, expiry, cancel (queued and running), lease expiry and takeover (the old owner's writes
 * refused), graceful stop, keyset-paged scoped lists, and the scheduler's one leader.
 */

import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openTestDb, TEST_DIALECTS, TEST_PG_URL, type TestDb } from '../db/db.testkit.js';
import type { Database } from '../db/schema.js';
import { backoffDelay, defineSchedule, JobQueue, JobScheduler, JobWorker, LeaseLostError } from './index.js';
import { createSideEffects, currentSchema, secondPgHandle, sideEffects } from './jobs.testkit.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function jobEvents(db: Kysely<Database>, id: string): Promise<Array<Record<string, unknown>>> {
  const rows = await sql<{
    data: string;
  }>`select data from events where subject = ${`job:${id}`} order by id`.execute(db);
  return rows.rows.map((r) => JSON.parse(r.data) as Record<string, unknown>);
}

describe.each(TEST_DIALECTS)('jobs on %s', (dialect) => {
  let db: TestDb | undefined;
  let k: Kysely<Database>;
  let queue: JobQueue;
  const workers: JobWorker[] = [];
  const worker = (options: Partial<ConstructorParameters<typeof JobWorker>[0]> = {}) => {
    const w = new JobWorker({
      db: k,
      queue,
      pollMs: 50,
      leaseMs: 5_000,
      backoff: { baseMs: 40, maxMs: 400 },
      ...options,
    });
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    db = await openTestDb(dialect);
    if (!db) return;
    k = db.kysely;
    queue = new JobQueue(k);
    await createSideEffects(k);
    await k
      .insertInto('tenants')
      .values([
        { id: 'acme', name: 'ACME', created_at: new Date().toISOString() },
        { id: 'globex', name: 'Globex', created_at: new Date().toISOString() },
      ])
      .execute();
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop(1_000);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  it('runs a job: progress, result, events in order', async (ctx) => {
    if (!db) return ctx.skip();
    const w = worker({ progressIntervalMs: 20 });
    w.register('demo.ok', async (job, c) => {
      for (let i = 1; i <= 5; i++) {
        c.progress(i, 5);
        await sleep(30);
      }
      return { echoed: job.params };
    });
    w.start();
    const job = await queue.enqueue(k, {
      kind: 'demo.ok',
      tenantId: 'acme',
      params: { n: 1 },
      createdBy: 'user:a@x',
    });
    expect(job.state).toBe('queued');
    const done = await waitFor('succeeded', async () => {
      const j = await queue.get(job.id);
      return j?.state === 'succeeded' && j;
    });
    expect(done.result).toEqual({ echoed: { n: 1 } });
    expect(done.progress).toEqual({ done: 5, total: 5 });
    expect(done.attempts).toBe(1);
    expect(done.started_at).not.toBeNull();
    expect(done.finished_at).not.toBeNull();
    const events = await jobEvents(k, job.id);
    expect(events[0]).toEqual({
      job_id: job.id,
      kind: 'demo.ok',
      state: 'queued',
      progress: { done: 0, total: null },
      attempts: 0,
      max_attempts: 3,
      cancel_requested: false,
      error: null,
    });
    expect(events[1]).toMatchObject({ state: 'running' });
    expect(events.at(-1)).toMatchObject({ state: 'succeeded', progress: { done: 5, total: 5 } });
    // Progress is throttled but published: at least one running event with partial progress.
    expect(events.some((e) => e.state === 'running' && (e.progress as { done: number }).done > 0)).toBe(true);
  });

  it('idempotency key: the second enqueue returns the first job; another kind under the key is a conflict', async (ctx) => {
    if (!db) return ctx.skip();
    const a = await queue.enqueue(k, {
      kind: 'demo.idem',
      tenantId: 'acme',
      idempotencyKey: 'k1',
      createdBy: 't',
    });
    const b = await queue.enqueue(k, {
      kind: 'demo.idem',
      tenantId: 'acme',
      idempotencyKey: 'k1',
      createdBy: 't',
    });
    expect(b.id).toBe(a.id);
    await expect(
      queue.enqueue(k, { kind: 'demo.idem', tenantId: 'globex', idempotencyKey: 'k1', createdBy: 't' }),
    ).rejects.toThrow(/different job/);
    // Inside a transaction too, and the transaction stays usable (no failed statement).
    await k.transaction().execute(async (trx) => {
      const c = await queue.enqueue(trx, {
        kind: 'demo.idem',
        tenantId: 'acme',
        idempotencyKey: 'k1',
        createdBy: 't',
      });
      expect(c.id).toBe(a.id);
      await sql`select 1`.execute(trx);
    });
    await queue.cancel(a.id);
  });

  it('an enqueue in a rolled-back transaction leaves no job and no event', async (ctx) => {
    if (!db) return ctx.skip();
    let id = '';
    await expect(
      k.transaction().execute(async (trx) => {
        id = (await queue.enqueue(trx, { kind: 'demo.rollback', tenantId: null, createdBy: 't' })).id;
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await queue.get(id)).toBeUndefined();
    expect(await jobEvents(k, id)).toEqual([]);
  });

  it('a queued job past its expiry is never started: expired', async (ctx) => {
    if (!db) return ctx.skip();
    let ran = false;
    const job = await queue.enqueue(k, {
      kind: 'demo.expire',
      tenantId: null,
      createdBy: 't',
      expiresAt: new Date(Date.now() - 1),
    });
    const w = worker();
    w.register('demo.expire', async () => {
      ran = true;
    });
    w.start();
    const j = await waitFor('expired', async () => {
      const j = await queue.get(job.id);
      return j?.state === 'expired' && j;
    });
    expect(ran).toBe(false);
    expect(j.attempts).toBe(0);
  });

  it('retries with back-off, then succeeds; or fails for good after max attempts', async (ctx) => {
    if (!db) return ctx.skip();
    const w = worker();
    const runs: number[] = [];
    w.register('demo.flaky', async (_job, c) => {
      runs.push(Date.now());
      if (c.attempt < 3) throw new Error(`boom ${c.attempt}\nsecond line postgres://u:secret@h/db`);
      return 'ok';
    });
    w.register('demo.broken', async () => {
      throw new Error('always broken: postgres://admin:hunter2@db.internal/x');
    });
    w.start();
    const flaky = await queue.enqueue(k, {
      kind: 'demo.flaky',
      tenantId: 'acme',
      createdBy: 't',
      maxAttempts: 3,
    });
    const broken = await queue.enqueue(k, {
      kind: 'demo.broken',
      tenantId: 'acme',
      createdBy: 't',
      maxAttempts: 2,
    });
    const f = await waitFor('flaky done', async () => {
      const j = await queue.get(flaky.id);
      return j?.state === 'succeeded' && j;
    });
    expect(f.attempts).toBe(3);
    expect(runs).toHaveLength(3);
    // Back-off: at least half the exponential delay (40 ms, then 80 ms) between attempts.
    expect(runs[1]! - runs[0]!).toBeGreaterThanOrEqual(20);
    expect(runs[2]! - runs[1]!).toBeGreaterThanOrEqual(40);
    const b = await waitFor('broken failed', async () => {
      const j = await queue.get(broken.id);
      return j?.state === 'failed' && j;
    });
    expect(b.attempts).toBe(2);
    expect(b.error).toBe('always broken: postgres://admin:***@db.internal/x');
    expect(b.error).not.toContain('hunter2');
  });

  it('cancel: a queued job at once; a running job through its AbortSignal', async (ctx) => {
    if (!db) return ctx.skip();
    const queued = await queue.enqueue(k, { kind: 'demo.never', tenantId: 'acme', createdBy: 't' });
    const c1 = await queue.cancel(queued.id);
    expect(c1?.state).toBe('cancelled');
    let started = false;
    const w = worker();
    w.register('demo.wait', async (_job, c) => {
      started = true;
      await new Promise((_, reject) => c.signal.addEventListener('abort', () => reject(c.signal.reason)));
    });
    w.start();
    const running = await queue.enqueue(k, { kind: 'demo.wait', tenantId: 'acme', createdBy: 't' });
    await waitFor('started', async () => started);
    const c2 = await queue.cancel(running.id);
    expect(c2?.state).toBe('running');
    expect(c2?.cancel_requested).toBe(true);
    const j = await waitFor('cancelled', async () => {
      const j = await queue.get(running.id);
      return j?.state === 'cancelled' && j;
    });
    expect(j.error).toBeNull();
    // Cancel from another process: a queue without this worker listening, seen at the next heartbeat.
    const other = new JobQueue(k);
    started = false;
    const w2 = worker({ heartbeatMs: 50 });
    w2.register('demo.wait2', async (_job, c) => {
      started = true;
      await new Promise((_, reject) => c.signal.addEventListener('abort', () => reject(c.signal.reason)));
    });
    w2.start();
    const remote = await queue.enqueue(k, { kind: 'demo.wait2', tenantId: 'acme', createdBy: 't' });
    await waitFor('started', async () => started);
    await other.cancel(remote.id);
    await waitFor('cancelled remotely', async () => (await queue.get(remote.id))?.state === 'cancelled');
  });

  it('lease expiry: another worker takes over and finishes once; the old owner is refused', async (ctx) => {
    if (!db) return ctx.skip();
    let releaseA!: () => void;
    const aMayGoOn = new Promise<void>((r) => {
      releaseA = r;
    });
    let aOutcome: unknown;
    // A stops heartbeating (as if its process hung or died) while its handler still runs.
    const a = worker({ owner: 'A', leaseMs: 300, heartbeatMs: 3_600_000 });
    a.register('demo.lease', async (job, c) => {
      await aMayGoOn;
      try {
        await c.inLease((trx) =>
          sql`insert into side_effects (job_id, owner, attempt) values (${job.id}, 'A', ${c.attempt})`.execute(
            trx,
          ),
        );
        aOutcome = 'wrote';
      } catch (err) {
        aOutcome = err;
      }
      return 'A';
    });
    a.start();
    const job = await queue.enqueue(k, { kind: 'demo.lease', tenantId: 'acme', createdBy: 't' });
    await waitFor('A runs it', async () => (await queue.get(job.id))?.state === 'running');
    await a.stop(0).catch(() => {});
    // a.stop released the job; make it A's again and let the lease lapse, as a dead process would leave it.
    await k
      .updateTable('jobs')
      .set({
        state: 'running',
        lease_owner: 'A',
        lease_until: new Date(Date.now() - 1).toISOString(),
        attempts: 1,
      })
      .where('id', '=', job.id)
      .execute();
    const b = worker({ owner: 'B' });
    b.register('demo.lease', async (j, c) => {
      await c.inLease((trx) =>
        sql`insert into side_effects (job_id, owner, attempt) values (${j.id}, 'B', ${c.attempt})`.execute(
          trx,
        ),
      );
      return 'B';
    });
    b.start();
    const done = await waitFor('B finished', async () => {
      const j = await queue.get(job.id);
      return j?.state === 'succeeded' && j;
    });
    expect(done.result).toBe('B');
    expect(done.attempts).toBe(2);
    releaseA();
    await waitFor('A tried to write', async () => aOutcome !== undefined);
    expect(aOutcome).toBeInstanceOf(LeaseLostError);
    const effects = (await sideEffects(k)).filter((e) => e.job_id === job.id);
    expect(effects).toEqual([{ job_id: job.id, owner: 'B', attempt: 2 }]);
    expect((await queue.get(job.id))?.result).toBe('B');
  });

  it('the old owner of a lapsed lease is refused while still running (no stop involved)', async (ctx) => {
    if (!db) return ctx.skip();
    let releaseA!: () => void;
    const gate = new Promise<void>((r) => {
      releaseA = r;
    });
    let aError: unknown;
    let aAborted = false;
    const a = worker({ owner: 'A2', leaseMs: 250, heartbeatMs: 3_600_000 });
    a.register('demo.lease2', async (_job, c) => {
      await gate;
      aAborted = c.signal.aborted;
      try {
        await c.heartbeat();
      } catch (err) {
        aError = err;
      }
      return 'A';
    });
    a.start();
    const job = await queue.enqueue(k, { kind: 'demo.lease2', tenantId: 'acme', createdBy: 't' });
    await waitFor(
      'A runs it',
      async () =>
        (await k.selectFrom('jobs').select('lease_owner').where('id', '=', job.id).executeTakeFirst())
          ?.lease_owner === 'A2',
    );
    const b = worker({ owner: 'B2' });
    b.register('demo.lease2', async () => 'B');
    b.start();
    await waitFor('B finished', async () => (await queue.get(job.id))?.state === 'succeeded');
    releaseA();
    await waitFor('A finished its handler', async () => aError !== undefined);
    expect(aError).toBeInstanceOf(LeaseLostError);
    expect(aAborted).toBe(false);
    await sleep(50);
    const j = await queue.get(job.id);
    expect(j?.result).toBe('B');
    expect(j?.state).toBe('succeeded');
  });

  it('a worker never claims again a job it still runs, even after its own lease lapsed', async (ctx) => {
    if (!db) return ctx.skip();
    let calls = 0;
    const w = worker({ owner: 'solo', leaseMs: 100, heartbeatMs: 3_600_000, concurrency: 2 });
    w.register('demo.solo', async () => {
      calls++;
      await sleep(600);
      return calls;
    });
    w.start();
    const job = await queue.enqueue(k, { kind: 'demo.solo', tenantId: 'acme', createdBy: 't' });
    const done = await waitFor('done', async () => {
      const j = await queue.get(job.id);
      return j?.state === 'succeeded' && j;
    });
    expect(calls).toBe(1);
    expect(done.attempts).toBe(1);
  });

  it('graceful stop releases a running job without counting the attempt', async (ctx) => {
    if (!db) return ctx.skip();
    let started = false;
    const w = worker();
    w.register('demo.stop', async (_job, c) => {
      started = true;
      await new Promise((_, reject) => c.signal.addEventListener('abort', () => reject(c.signal.reason)));
    });
    w.start();
    const job = await queue.enqueue(k, { kind: 'demo.stop', tenantId: 'acme', createdBy: 't' });
    await waitFor('started', async () => started);
    await w.stop(50);
    const j = await queue.get(job.id);
    expect(j?.state).toBe('queued');
    expect(j?.attempts).toBe(0);
    await queue.cancel(job.id);
  });

  it('lists newest first with keyset paging, within the scope', async (ctx) => {
    if (!db) return ctx.skip();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const t = i % 2 === 0 ? 'acme' : 'globex';
      ids.push((await queue.enqueue(k, { kind: 'demo.list', tenantId: t, createdBy: 't' })).id);
    }
    ids.push((await queue.enqueue(k, { kind: 'demo.list', tenantId: null, createdBy: 't' })).id);
    const seen: string[] = [];
    let after: string | undefined;
    for (let n = 0; n < 10; n++) {
      const page = await queue.list({ scope: 'all', kind: 'demo.list', limit: 3, after });
      expect(page.total).toBe(8);
      seen.push(...page.items.map((j) => j.id));
      if (!page.next) break;
      after = page.next;
    }
    expect(seen).toEqual([...ids].reverse());
    const acme = await queue.list({ scope: ['acme'], kind: 'demo.list' });
    expect(acme.total).toBe(4);
    expect(acme.items.every((j) => j.tenant_id === 'acme')).toBe(true);
    const narrowed = await queue.list({ scope: ['acme'], kind: 'demo.list', tenant: 'globex' });
    expect(narrowed.items).toEqual([]);
    expect(await queue.get(ids.at(-1)!, ['acme', 'globex'])).toBeUndefined();
    expect(await queue.cancel(ids[1]!, ['acme'])).toBeUndefined();
    await expect(queue.list({ scope: 'all', after: 'bogus' })).rejects.toThrow(/after:/);
    for (const id of ids) await queue.cancel(id);
  });

  it('scheduler: one leader; a slot is enqueued once even when two instances tick', async (ctx) => {
    if (!db) return ctx.skip();
    const second = dialect === 'postgres' ? secondPgHandle(await currentSchema(db)) : k;
    try {
      const q2 = new JobQueue(second);
      const schema = dialect === 'postgres' ? await currentSchema(db) : '';
      const lockClient = () =>
        new pg.Client({ connectionString: TEST_PG_URL, options: `-c search_path=${schema}` });
      const s1 = new JobScheduler({ db: k, queue, tickMs: 3_600_000, lockClient: db.dedicatedClient });
      const s2 = new JobScheduler({ db: second, queue: q2, tickMs: 3_600_000, lockClient });
      await defineSchedule(k, {
        name: 'demo.every-minute',
        kind: 'demo.sched',
        intervalSeconds: 60,
        firstRunAt: new Date(Date.now() - 1000),
      });
      const [a, b] = await Promise.all([s1.tick(), s2.tick()]);
      expect(a + b).toBe(1);
      if (dialect === 'postgres') expect([s1.isLeader(), s2.isLeader()].filter(Boolean)).toHaveLength(1);
      const jobs = await k.selectFrom('jobs').selectAll().where('kind', '=', 'demo.sched').execute();
      expect(jobs).toHaveLength(1);
      expect(jobs[0]!.idempotency_key).toMatch(/^schedule:demo\.every-minute:/);
      // Not due again for a minute.
      expect(await s1.tick()).toBe(0);
      if (dialect === 'postgres') {
        // The leader stops: the other takes the lock at its next tick.
        const leader = s1.isLeader() ? s1 : s2;
        const other = leader === s1 ? s2 : s1;
        await leader.stop();
        expect(leader.isLeader()).toBe(false);
        await other.tick();
        expect(other.isLeader()).toBe(true);
        // The leader's session dies (its replica crashed): the lock is free; one of the two leads after a tick each.
        const keys = await sql<{
          a: number;
          b: number;
        }>`select hashtext(current_schema()) as a, hashtext('bulwark.jobs.scheduler') as b`.execute(k);
        const { a: ka, b: kb } = keys.rows[0]!;
        const killed = await sql<{ ok: boolean }>`
          select pg_terminate_backend(pid) as ok from pg_locks
          where locktype = 'advisory' and granted
            and classid::bigint = (${ka}::bigint & 4294967295) and objid::bigint = (${kb}::bigint & 4294967295)`.execute(
          k,
        );
        expect(killed.rows).toHaveLength(1);
        await waitFor('the lock to be free', async () => {
          const r = await sql<{
            n: number;
          }>`select count(*) as n from pg_locks where locktype = 'advisory' and granted
            and classid::bigint = (${ka}::bigint & 4294967295) and objid::bigint = (${kb}::bigint & 4294967295)`.execute(
            k,
          );
          return Number(r.rows[0]!.n) === 0;
        });
        await other.tick();
        await leader.tick();
        expect([s1.isLeader(), s2.isLeader()].filter(Boolean)).toHaveLength(1);
        await other.stop();
        await leader.stop();
      }
    } finally {
      if (second !== k) await second.destroy();
    }
  });
});

describe('back-off', () => {
  it('doubles per attempt up to the cap, jittered to 50–100 %', () => {
    expect(backoffDelay(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffDelay(3, 1000, 60_000, () => 1)).toBe(4000);
    expect(backoffDelay(3, 1000, 60_000, () => 0)).toBe(2000);
    expect(backoffDelay(30, 1000, 60_000, () => 1)).toBe(60_000);
  });
});
