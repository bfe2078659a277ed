/**
 * The event outbox and the cursors of durable event consumers. An event row is written in the transaction of the
 * change it describes; `seq` is its place in the delivery order, assigned once it is committed (see
 * server/events/sequencer.ts). Consumers read `seq > cursor`.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { DialectName } from '../connect.js';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema as it was, not as it is now.
type AnyDb = Kysely<any>;

export function eventsMigration(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('events')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => c.primaryKey())
        .addColumn('seq', 'bigint')
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text')
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('events_by_seq').on('events').column('seq').unique().execute();
      // The sequencer's work list: committed events without a seq yet, in insertion order.
      await db.schema
        .createIndex('events_unsequenced')
        .on('events')
        .column('id')
        .where(sql.ref('seq'), 'is', null)
        .execute();

      await db.schema
        .createTable('event_cursors')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
  };
}
