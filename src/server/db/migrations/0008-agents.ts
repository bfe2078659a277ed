/**
 * Agents (issue 14): enrolment tokens, enrolled agents, the device certificates the installation CA issued them, and
 * the signed jobs sent to them. The CA key and the job-signing keys live in `server_keys`, sealed under the master
 * key (server/agents/keys.ts). Timestamps are ISO-8601 UTC text; JSON is text; flags are integers 0/1.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { DialectName } from '../connect.js';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema as it was, not as it is now.
type AnyDb = Kysely<any>;

export function agentsMigration(dialect: DialectName): Migration {
  // biome-ignore lint/suspicious/noExplicitAny: any create-table builder
  const clustered = <B extends { modifyEnd(node: any): B }>(b: B): B =>
    dialect === 'sqlite' ? b.modifyEnd(sql`without rowid`) : b;
  return {
    async up(db: AnyDb) {
      // Enrolment tokens: the secret is stored only as its fingerprint; `uses` counts enrolments made with it.
      await db.schema
        .createTable('agent_tokens')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('site_id', 'text')
        .addColumn('secret_hash', 'text', (c) => c.notNull())
        .addColumn('uses_allowed', 'integer', (c) => c.notNull())
        .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('note', 'text')
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('agent_tokens_pk', ['tenant_id', 'id'])
        .$call(clustered)
        .execute();

      await db.schema
        .createTable('agents')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('site_id', 'text')
        // The agent's Ed25519 public key, raw 32 bytes as base64url; one key enrols once.
        .addColumn('public_key', 'text', (c) => c.notNull().unique())
        .addColumn('hostname', 'text', (c) => c.notNull())
        .addColumn('os', 'text')
        .addColumn('version', 'text', (c) => c.notNull())
        // active, quarantined, revoked.
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('state_reason', 'text')
        .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('pending_generation', 'integer')
        .addColumn('cert_serial', 'text', (c) => c.notNull())
        .addColumn('cert_not_after', 'text', (c) => c.notNull())
        .addColumn('enrolled_at', 'text', (c) => c.notNull())
        .addColumn('token_id', 'text', (c) => c.notNull())
        .addColumn('last_seen_at', 'text')
        .addColumn('online', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('connected_replica', 'text')
        .addColumn('connected_at', 'text')
        .addColumn('inventory_hash', 'text')
        .addColumn('inventory_at', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('agents_pk', ['tenant_id', 'id'])
        .$call(clustered)
        .execute();
      // The agent list filtered by site.
      await db.schema
        .createIndex('agents_by_site')
        .on('agents')
        .columns(['tenant_id', 'site_id', 'id'])
        .execute();

      // Every device certificate issued; revoking an agent revokes all of its certificates.
      await db.schema
        .createTable('agent_certificates')
        .addColumn('serial', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('not_before', 'text', (c) => c.notNull())
        .addColumn('not_after', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema
        .createIndex('agent_certificates_by_agent')
        .on('agent_certificates')
        .columns(['tenant_id', 'agent_id'])
        .execute();

      // Signed jobs, one row per agent: the envelope as signed (canonical JSON) and its signature.
      await db.schema
        .createTable('agent_jobs')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('params', 'text', (c) => c.notNull())
        .addColumn('envelope', 'text', (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        // queued, delivered, received, running, succeeded, failed, refused, expired, cancelled.
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('progress', 'text')
        .addColumn('result', 'text')
        .addColumn('result_signature', 'text')
        .addColumn('reason', 'text')
        .addColumn('not_before', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('delivered_at', 'text')
        .addColumn('started_at', 'text')
        .addColumn('finished_at', 'text')
        .addColumn('batch_id', 'text')
        .addPrimaryKeyConstraint('agent_jobs_pk', ['tenant_id', 'id'])
        .$call(clustered)
        .execute();
      // Delivery: an agent's queued and delivered jobs.
      await db.schema
        .createIndex('agent_jobs_by_agent')
        .on('agent_jobs')
        .columns(['agent_id', 'state'])
        .execute();
      // The expiry sweep.
      await db.schema
        .createIndex('agent_jobs_by_expiry')
        .on('agent_jobs')
        .columns(['state', 'expires_at'])
        .execute();
      // Lists: a tenant's jobs newest first.
      await db.schema
        .createIndex('agent_jobs_by_created')
        .on('agent_jobs')
        .columns(['tenant_id', 'created_at', 'id'])
        .execute();
    },
  };
}
