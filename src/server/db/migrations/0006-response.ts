/**
 * Response state (the board): observations of shield, compromise and patch per asset and advisory (the history),
 * the current answer of each kind per asset and advisory (`asset_response`, what the board reads), and patch
 * tracking on asset_exposure: `affected_at` (when the verdict last became affected) and `patched_at` (when it went
 * to fixed after having been affected; null otherwise); and the board's counts per tenant and advisory
 * (`board_counts`), recounted for the pairs a change marked in `board_dirty`.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { DialectName } from '../connect.js';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema as it was, not as it is now.
type AnyDb = Kysely<any>;

export function responseMigration(dialect: DialectName): Migration {
  // biome-ignore lint/suspicious/noExplicitAny: any create-table builder
  const clustered = <B extends { modifyEnd(node: any): B }>(b: B): B =>
    dialect === 'sqlite' ? b.modifyEnd(sql`without rowid`) : b;
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('asset_exposure').addColumn('affected_at', 'text').execute();
      await db.schema.alterTable('asset_exposure').addColumn('patched_at', 'text').execute();
      await db
        .updateTable('asset_exposure')
        .set({ affected_at: sql`updated_at` })
        .where('verdict', '=', 'affected')
        .execute();

      // Keyed so an asset's history for an advisory reads newest first from the key.
      await db.schema
        .createTable('observations')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('asset_id', 'text', (c) => c.notNull())
        .addColumn('advisory_id', 'text', (c) => c.notNull())
        .addColumn('observed_at', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('window_from', 'text')
        .addColumn('window_to', 'text')
        /** The evidence summary as JSON; null when none was sent. */
        .addColumn('summary', 'text')
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('recorded_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('observations_pk', [
          'tenant_id',
          'asset_id',
          'advisory_id',
          'observed_at',
          'id',
        ])
        .$call(clustered)
        .addForeignKeyConstraint(
          'observations_asset_fk',
          ['tenant_id', 'asset_id'],
          'assets',
          ['tenant_id', 'id'],
          (c) => c.onDelete('cascade'),
        )
        .execute();

      // The current answer of each kind: the newest observation's value, time, source and id (null: none yet).
      await db.schema
        .createTable('asset_response')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('asset_id', 'text', (c) => c.notNull())
        .addColumn('advisory_id', 'text', (c) => c.notNull())
        .addColumn('shield', 'text')
        .addColumn('shield_at', 'text')
        .addColumn('shield_source', 'text')
        .addColumn('shield_id', 'text')
        .addColumn('compromise', 'text')
        .addColumn('compromise_at', 'text')
        .addColumn('compromise_source', 'text')
        .addColumn('compromise_id', 'text')
        .addColumn('patch', 'text')
        .addColumn('patch_at', 'text')
        .addColumn('patch_source', 'text')
        .addColumn('patch_id', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('asset_response_pk', ['tenant_id', 'asset_id', 'advisory_id'])
        .$call(clustered)
        .addForeignKeyConstraint(
          'asset_response_asset_fk',
          ['tenant_id', 'asset_id'],
          'assets',
          ['tenant_id', 'id'],
          (c) => c.onDelete('cascade'),
        )
        .execute();
      // The board: an advisory's answers over every tenant.
      await db.schema
        .createIndex('asset_response_by_advisory')
        .on('asset_response')
        .columns(['advisory_id', 'tenant_id', 'asset_id'])
        .execute();

      // The board's counts per advisory and tenant, as of the last recount.
      await db.schema
        .createTable('board_counts')
        .addColumn('advisory_id', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('assets', 'integer', (c) => c.notNull())
        .addColumn('exposed', 'integer', (c) => c.notNull())
        .addColumn('unknown_exposure', 'integer', (c) => c.notNull())
        .addColumn('shielded', 'integer', (c) => c.notNull())
        .addColumn('unshielded', 'integer', (c) => c.notNull())
        .addColumn('compromised', 'integer', (c) => c.notNull())
        .addColumn('patched', 'integer', (c) => c.notNull())
        .addColumn('clean', 'integer', (c) => c.notNull())
        .addColumn('not_hunted', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('board_counts_pk', ['advisory_id', 'tenant_id'])
        .$call(clustered)
        .execute();
      // Pairs whose counts a committed change made stale; `version` grows with every mark, so a recount removes
      // only the mark it saw.
      await db.schema
        .createTable('board_dirty')
        .addColumn('advisory_id', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('board_dirty_pk', ['advisory_id', 'tenant_id'])
        .$call(clustered)
        .execute();
      // Verdicts stored before this migration: counted on the board's first read.
      await sql`insert into board_dirty (advisory_id, tenant_id, version)
        select distinct advisory_id, tenant_id, 1 from exposure_counts`.execute(db);
    },
  };
}
