/**
 * Audit records waiting to be chained. A change's transaction inserts its record here (no lock, no read of the
 * chain head); the audit chainer moves committed rows into `audit_log` in batches, in id order, under one lock.
 */
import type { Kysely, Migration } from 'kysely';
import type { DialectName } from '../connect.js';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema as it was, not as it is now.
type AnyDb = Kysely<any>;

export function auditPendingMigration(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('audit_pending')
        // SQLite: the rowid; PostgreSQL: a sequence (ids may commit out of order; the chainer takes what has committed).
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => c.primaryKey())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .execute();
    },
  };
}
