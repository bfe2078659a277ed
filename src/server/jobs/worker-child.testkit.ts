/**
 * A worker in its own process, for the kill -9 test: runs kind `slow` on the PostgreSQL schema in
 * BULWARK_JOBS_SCHEMA with a short lease. The handler reports progress for a while, then records its effect
 * through inLease. Prints `running <id>` when a job starts.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from '../db/schema.js';
import { JobWorker } from './worker.js';

const url = process.env.BULWARK_JOBS_PG_URL!;
const schema = process.env.BULWARK_JOBS_SCHEMA!;
const steps = Number(process.env.BULWARK_JOBS_STEPS ?? '100');
const pool = new pg.Pool({ connectionString: url, max: 3, options: `-c search_path=${schema}` });
const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
const worker = new JobWorker({ db, owner: 'child', leaseMs: 1500, heartbeatMs: 300, pollMs: 100 });
worker.register('slow', async (job, ctx) => {
  process.stdout.write(`running ${job.id}\n`);
  for (let i = 0; i < steps; i++) {
    ctx.signal.throwIfAborted();
    await new Promise((r) => setTimeout(r, 100));
    ctx.progress(i + 1, steps);
  }
  await ctx.inLease((trx) =>
    sql`insert into side_effects (job_id, owner, attempt) values (${job.id}, ${ctx.owner}, ${ctx.attempt})`.execute(
      trx,
    ),
  );
  return { by: ctx.owner };
});
worker.start();
process.stdout.write('ready\n');
