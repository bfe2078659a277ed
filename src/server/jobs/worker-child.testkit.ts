/**
 * A worker in its own process, for the kill -9 test: runs kind `slow` on the PostgreSQL schema in
 * BULWARK_JOBS_SCHEMA (or the SQLite file in BULWARK_JOBS_SQLITE) with a short lease. The handler reports progress for a while, then records its effect
 * through inLease. Prints `running <id>` when a job starts.
 */
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from '../db/schema.js';
import { JobWorker } from './worker.js';

const url = process.env.BULWARK_JOBS_PG_URL!;
const schema = process.env.BULWARK_JOBS_SCHEMA!;
const steps = Number(process.env.BULWARK_JOBS_STEPS ?? '100');
const sqlitePath = process.env.BULWARK_JOBS_SQLITE;
function sqliteAt(path: string) {
  const database = new SqliteDatabase(path);
  database.pragma('journal_mode = WAL');
  database.pragma('busy_timeout = 5000');
  return new SqliteDialect({ database });
}
const db = new Kysely<Database>({
  dialect: sqlitePath
    ? sqliteAt(sqlitePath)
    : new PostgresDialect({
        pool: new pg.Pool({ connectionString: url, max: 3, options: `-c search_path=${schema}` }),
      }),
});
const log = {
  warn: (obj: object, msg: string) =>
    process.stderr.write(`${msg} ${String((obj as { err?: unknown }).err ?? '')}\n`),
  error: (obj: object, msg: string) =>
    process.stderr.write(`${msg} ${String((obj as { err?: unknown }).err ?? '')}\n`),
};
const worker = new JobWorker({ db, owner: 'child', leaseMs: 1500, heartbeatMs: 300, pollMs: 100, log });
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
