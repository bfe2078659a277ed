/**
 * Durable jobs and recurring schedules. A job row is the truth about one piece of background work: its state, its
 * lease (which worker runs it until when), its progress and outcome. Timestamps are ISO-8601 UTC text like every
 * other table, so they compare as text on both databases.
 */
import type { Kysely, Migration } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema as it was, not as it is now.
type AnyDb = Kysely<any>;

export function jobsMigration(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('jobs')
        // The tenant whose job it is; null for installation-wide jobs (advisory imports, maintenance).
        .addColumn('tenant_id', 'text', (c) => c.references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('params', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('max_attempts', 'integer', (c) => c.notNull())
        .addColumn('run_after', 'text', (c) => c.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_until', 'text')
        .addColumn('progress_done', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('progress_total', 'integer')
        .addColumn('result', 'text')
        .addColumn('error', 'text')
        .addColumn('idempotency_key', 'text', (c) => c.unique())
        .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('finished_at', 'text')
        .addColumn('expires_at', 'text')
        .execute();
      // Workers look for queued jobs that are due and running jobs whose lease ran out.
      await db.schema.createIndex('jobs_claim').on('jobs').columns(['state', 'run_after']).execute();
      // Lists: newest first, per tenant or installation-wide.
      await db.schema
        .createIndex('jobs_by_tenant')
        .on('jobs')
        .columns(['tenant_id', 'created_at', 'id'])
        .execute();
      await db.schema.createIndex('jobs_by_created').on('jobs').columns(['created_at', 'id']).execute();

      await db.schema
        .createTable('job_schedules')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.references('tenants.id').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('params', 'text', (c) => c.notNull())
        .addColumn('interval_seconds', 'integer', (c) => c.notNull())
        .addColumn('next_run_at', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
  };
}
