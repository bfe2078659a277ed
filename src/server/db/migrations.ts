/**
 * Schema migrations, one list for SQLite and PostgreSQL. They run on every start under Kysely's migrator, which
 * records what ran and holds a lock, so re-running is safe and two replicas starting at once do not race.
 * Append new migrations; never edit one that has shipped.
 */
import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';
import type { DialectName } from './connect.js';
import { auditPendingMigration } from './migrations/0002-audit-pending.js';
import { eventsMigration } from './migrations/0003-events.js';
import { jobsMigration } from './migrations/0004-jobs.js';
import { advisoryVersionMigration } from './migrations/0005-advisory-version.js';
import { responseMigration } from './migrations/0006-response.js';
import { bulkConfirmationsMigration } from './migrations/0007-bulk-confirmations.js';
import { agentsMigration } from './migrations/0008-agents.js';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema as it was, not as it is now.
type AnyDb = Kysely<any>;

/**
 * SQLite: tables keyed by (tenant_id, …) are stored in key order (WITHOUT ROWID), one B-tree instead of a rowid
 * table plus a key index — half the writes when an advisory run stores hundreds of thousands of findings.
 * PostgreSQL keeps its heap tables.
 */
function initial(dialect: DialectName): Migration {
  // biome-ignore lint/suspicious/noExplicitAny: any create-table builder
  const clustered = <B extends { modifyEnd(node: any): B }>(b: B): B =>
    dialect === 'sqlite' ? b.modifyEnd(sql`without rowid`) : b;
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('installation')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('setup_token_hash', 'text')
        .execute();

      await db.schema
        .createTable('tenants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('sites')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('sites_pk', ['tenant_id', 'id'])
        .$call(clustered)
        .execute();

      await db.schema
        .createTable('assets')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('site_id', 'text')
        .addColumn('name', 'text')
        .addColumn('facts', 'text', (c) => c.notNull())
        .addColumn('facts_hash', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('assets_pk', ['tenant_id', 'id'])
        .$call(clustered)
        .execute();

      await db.schema
        .createTable('asset_products')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('asset_id', 'text', (c) => c.notNull())
        .addColumn('product', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('asset_products_pk', ['tenant_id', 'asset_id', 'product'])
        .$call(clustered)
        .addForeignKeyConstraint(
          'asset_products_asset_fk',
          ['tenant_id', 'asset_id'],
          'assets',
          ['tenant_id', 'id'],
          (c) => c.onDelete('cascade'),
        )
        .execute();
      await db.schema
        .createIndex('asset_products_by_product')
        .on('asset_products')
        .columns(['product'])
        .execute();

      await db.schema
        .createTable('advisories')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('document_hash', 'text', (c) => c.notNull())
        .addColumn('products', 'text', (c) => c.notNull())
        .addColumn('published', 'text')
        .addColumn('imported_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('findings')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('asset_id', 'text', (c) => c.notNull())
        .addColumn('cve', 'text', (c) => c.notNull())
        .addColumn('advisory_id', 'text', (c) => c.notNull())
        .addColumn('product', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('verdict', 'text', (c) => c.notNull())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('fact', 'text', (c) => c.notNull())
        .addColumn('comparison', 'text', (c) => c.notNull())
        .addColumn('fixes', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('events', 'integer', (c) => c.notNull())
        .addColumn('first_seen', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('findings_pk', ['tenant_id', 'asset_id', 'cve'])
        .$call(clustered)
        .addForeignKeyConstraint(
          'findings_asset_fk',
          ['tenant_id', 'asset_id'],
          'assets',
          ['tenant_id', 'id'],
          (c) => c.onDelete('cascade'),
        )
        .execute();
      // Exposure counts per advisory (and per tenant within it) read only this index.
      await db.schema
        .createIndex('findings_by_advisory')
        .on('findings')
        .columns(['advisory_id', 'tenant_id', 'verdict', 'asset_id'])
        .execute();

      // Per asset and advisory, the most cautious verdict over the advisory's CVEs: lists of exposed assets.
      await db.schema
        .createTable('asset_exposure')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('asset_id', 'text', (c) => c.notNull())
        .addColumn('advisory_id', 'text', (c) => c.notNull())
        .addColumn('verdict', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('asset_exposure_pk', ['tenant_id', 'asset_id', 'advisory_id'])
        .$call(clustered)
        .addForeignKeyConstraint(
          'asset_exposure_asset_fk',
          ['tenant_id', 'asset_id'],
          'assets',
          ['tenant_id', 'id'],
          (c) => c.onDelete('cascade'),
        )
        .execute();
      await db.schema
        .createIndex('asset_exposure_by_advisory')
        .on('asset_exposure')
        .columns(['tenant_id', 'advisory_id', 'verdict'])
        .execute();

      // Assets per tenant, advisory and verdict, kept in step with asset_exposure in the same transaction, so the
      // fleet-wide "who is exposed" question reads at most tenants x verdicts rows.
      await db.schema
        .createTable('exposure_counts')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('advisory_id', 'text', (c) => c.notNull())
        .addColumn('verdict', 'text', (c) => c.notNull())
        .addColumn('assets', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('exposure_counts_pk', ['tenant_id', 'advisory_id', 'verdict'])
        .$call(clustered)
        .execute();
      await db.schema
        .createIndex('exposure_counts_by_advisory')
        .on('exposure_counts')
        .columns(['advisory_id'])
        .execute();

      await db.schema
        .createTable('finding_events')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('asset_id', 'text', (c) => c.notNull())
        .addColumn('cve', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('from_value', 'text')
        .addColumn('to_value', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('finding_events_pk', ['tenant_id', 'asset_id', 'cve', 'seq'])
        .$call(clustered)
        .addForeignKeyConstraint(
          'finding_events_asset_fk',
          ['tenant_id', 'asset_id'],
          'assets',
          ['tenant_id', 'id'],
          (c) => c.onDelete('cascade'),
        )
        .execute();

      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.references('tenants.id').onDelete('cascade'))
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('totp_secret', 'text')
        .addColumn('totp_enabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('totp_last_step', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('csrf_token', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('last_seen_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.references('tenants.id').onDelete('cascade'))
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('last_used_at', 'text')
        .addColumn('revoked_at', 'text')
        .execute();

      await db.schema
        .createTable('audit_log')
        .addColumn('seq', 'integer', (c) => c.primaryKey())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('exposure_runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('advisory_ids', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text', (c) => c.notNull())
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('assets_evaluated', 'integer', (c) => c.notNull())
        .addColumn('findings_written', 'integer', (c) => c.notNull())
        .execute();
    },
  };
}

export function migrationsFor(dialect: DialectName): Record<string, Migration> {
  return {
    '0001_initial': initial(dialect),
    '0002_audit_pending': auditPendingMigration(dialect),
    '0003_events': eventsMigration(dialect),
    '0004_jobs': jobsMigration(),
    '0005_advisory_version': advisoryVersionMigration(),
    '0006_response': responseMigration(dialect),
    '0007_bulk_confirmations': bulkConfirmationsMigration(),
    '0008_agents': agentsMigration(dialect),
  };
}

export function migrationProviderFor(dialect: DialectName): MigrationProvider {
  return { getMigrations: async () => migrationsFor(dialect) };
}
