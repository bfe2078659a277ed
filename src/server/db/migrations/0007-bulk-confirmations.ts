/**
 * Two-step bulk changes (server/findings/bulk.ts): `server_keys` holds the installation's random keys, created
 * here so that every replica signs and checks with the same one (`bulk_confirmation` signs the confirmation a
 * preview hands out); `bulk_confirmations_used` holds the confirmations already committed, so each is used once.
 * A used confirmation's row is kept until it expires and is then pruned by the next commit of its tenant.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely, Migration } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema as it was, not as it is now.
type AnyDb = Kysely<any>;

export function bulkConfirmationsMigration(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('server_keys')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db
        .insertInto('server_keys')
        .values({
          name: 'bulk_confirmation',
          secret: randomBytes(32).toString('base64url'),
          created_at: new Date().toISOString(),
        })
        .execute();
      await db.schema
        .createTable('bulk_confirmations_used')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('used_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('bulk_confirmations_used_pk', ['tenant_id', 'id'])
        .execute();
    },
  };
}
