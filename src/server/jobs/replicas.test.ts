/**
 * Jobs across processes: a worker process killed with SIGKILL mid-job — on PostgreSQL another worker reclaims the
 * job after its lease, on SQLite the restarted server resumes it at once; either way it completes once. And, on
 * PostgreSQL, two workers on two connection pools never run one job at the
 * same time (property over random job sets, failures and durations).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDb, TEST_DIALECTS, TEST_PG_URL, type TestDb } from '../db/db.testkit.js';
import { createJobs, JobQueue, JobWorker } from './index.js';
import {
  CHILD_ENTRY,
  createSideEffects,
  currentSchema,
  secondPgHandle,
  sideEffects,
  transpileTree,
} from './jobs.testkit.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe.each(TEST_DIALECTS)('a killed worker process on %s', (dialect) => {
  let db: TestDb | undefined;
  let schema = '';
  beforeAll(async () => {
    db = await openTestDb(dialect);
    if (!db) return;
    if (dialect === 'postgres') schema = await currentSchema(db);
    await createSideEffects(db.kysely);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  it('kill -9 of the process running a job: taken over (PostgreSQL: after the lease; SQLite: at restart), completed exactly once', async (ctx) => {
    if (!db) return ctx.skip();
    const k = db.kysely;
    const queue = new JobQueue(k);
    const job = await queue.enqueue(k, { kind: 'slow', tenantId: null, createdBy: 'test', maxAttempts: 3 });
    const tree = transpileTree(CHILD_ENTRY);
    let child: ChildProcess | undefined;
    // The other replica (PostgreSQL) or the restarted server (SQLite), as the server builds its jobs.
    const jobs = createJobs({
      db: k,
      schedulerTickMs: false,
      worker: { owner: 'parent', pollMs: 100, leaseMs: 5_000 },
    });
    const worker = jobs.worker;
    try {
      child = spawn(process.execPath, [tree.file], {
        env: {
          ...process.env,
          ...(dialect === 'sqlite'
            ? { BULWARK_JOBS_SQLITE: db.sqlitePath }
            : { BULWARK_JOBS_PG_URL: TEST_PG_URL, BULWARK_JOBS_SCHEMA: schema }),
          BULWARK_JOBS_STEPS: '200',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
      });
      child.stderr!.on('data', (d) => {
        out += d;
      });
      await waitFor(
        'the child to run the job',
        async () => out.includes(`running ${job.id}`) || child!.exitCode !== null,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; the child said: ${out}`);
      });
      expect(out, out).toContain(`running ${job.id}`);
      // Mid-way: some progress written, not finished.
      await waitFor(
        'progress from the child',
        async () => ((await queue.get(job.id))?.progress.done ?? 0) >= 3,
      );
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      const orphan = await k
        .selectFrom('jobs')
        .selectAll()
        .where('id', '=', job.id)
        .executeTakeFirstOrThrow();
      expect(orphan).toMatchObject({ state: 'running', lease_owner: 'child', attempts: 1 });
      expect(await sideEffects(k)).toEqual([]);

      worker.register('slow', async (j, c) => {
        c.progress(1, 1);
        await c.inLease((trx) =>
          sql`insert into side_effects (job_id, owner, attempt) values (${j.id}, ${c.owner}, ${c.attempt})`.execute(
            trx,
          ),
        );
        return { by: c.owner };
      });
      jobs.start();
      const done = await waitFor('the job to finish here', async () => {
        const j = await queue.get(job.id);
        return j?.state === 'succeeded' && j;
      });
      expect(done.attempts).toBe(2);
      expect(done.result).toEqual({ by: 'parent' });
      if (dialect === 'postgres') {
        // Not before the child's lease (1.5 s after its last renewal) ran out: the child might still have been alive.
        expect(Date.parse(done.finished_at!)).toBeGreaterThanOrEqual(Date.parse(orphan.lease_until!));
      }
      expect(await sideEffects(k)).toEqual([{ job_id: job.id, owner: 'parent', attempt: 2 }]);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await jobs.stop(1_000);
      tree.dispose();
    }
  }, 60_000);
});

describe('two workers on postgres', () => {
  let db: TestDb | undefined;
  let schema = '';
  beforeAll(async () => {
    db = await openTestDb('postgres');
    if (!db) return;
    schema = await currentSchema(db);
    await createSideEffects(db.kysely);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  it('two workers on two pools never run one job at once; every job ends once', async (ctx) => {
    if (!db) return ctx.skip();
    const k = db.kysely;
    const k2 = secondPgHandle(schema);
    try {
      let round = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({ ms: fc.integer({ min: 0, max: 25 }), fails: fc.integer({ min: 0, max: 2 }) }),
            {
              minLength: 5,
              maxLength: 30,
            },
          ),
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 3 }),
          async (specs, c1, c2) => {
            const kind = `prop.r${++round}`;
            const running = new Map<string, number>();
            const runs = new Map<string, number>();
            let overlap = 0;
            const handler = async (j: { id: string; params: unknown }, c: { attempt: number }) => {
              const now = (running.get(j.id) ?? 0) + 1;
              running.set(j.id, now);
              if (now > 1) overlap++;
              runs.set(j.id, (runs.get(j.id) ?? 0) + 1);
              const spec = j.params as { ms: number; fails: number };
              try {
                await sleep(spec.ms);
                if (c.attempt <= spec.fails) throw new Error(`planned failure ${c.attempt}`);
                return c.attempt;
              } finally {
                running.set(j.id, (running.get(j.id) ?? 1) - 1);
              }
            };
            const q1 = new JobQueue(k);
            const w1 = new JobWorker({
              db: k,
              queue: q1,
              concurrency: c1,
              pollMs: 20,
              leaseMs: 2_000,
              backoff: { baseMs: 5, maxMs: 20 },
            });
            const w2 = new JobWorker({
              db: k2,
              concurrency: c2,
              pollMs: 20,
              leaseMs: 2_000,
              backoff: { baseMs: 5, maxMs: 20 },
            });
            w1.register(kind, handler);
            w2.register(kind, handler);
            w1.start();
            w2.start();
            try {
              const ids: string[] = [];
              for (const spec of specs)
                ids.push(
                  (
                    await q1.enqueue(k, {
                      kind,
                      tenantId: null,
                      params: spec,
                      createdBy: 'prop',
                      maxAttempts: 3,
                    })
                  ).id,
                );
              await waitFor(
                'every job to finish',
                async () => {
                  const r = await k
                    .selectFrom('jobs')
                    .select((eb) => eb.fn.countAll<number>().as('n'))
                    .where('kind', '=', kind)
                    .where('state', '=', 'succeeded')
                    .executeTakeFirstOrThrow();
                  return Number(r.n) === ids.length;
                },
                30_000,
              );
              expect(overlap).toBe(0);
              for (const [i, id] of ids.entries()) expect(runs.get(id)).toBe(specs[i]!.fails + 1);
            } finally {
              await Promise.all([w1.stop(1_000), w2.stop(1_000)]);
            }
          },
        ),
        { numRuns: 6 },
      );
    } finally {
      await k2.destroy();
    }
  }, 120_000);
});
