/**
 * The version of the stored advisories: one row, its `version` raised by every transaction that stores
 * advisories (server/exposure/service.ts). A replica compares it with the version its exposure engine was compiled
 * from before it judges assets, so it never judges with advisories older than those stored.
 */
import type { Kysely, Migration } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema as it was, not as it is now.
type AnyDb = Kysely<any>;

export function advisoryVersionMigration(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('advisory_version')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('version', 'integer', (c) => c.notNull())
        .execute();
      await db.insertInto('advisory_version').values({ id: 1, version: 0 }).execute();
    },
  };
}
